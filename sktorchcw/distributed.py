"""Data-parallel training: a class-weighted loss over the global batch of all processes.

With :class:`torch.nn.parallel.DistributedDataParallel` every process computes a loss on
its share of the batch and DDP averages the gradients over processes. Averaging local
``'mean'`` losses equals the global-batch loss only when every process holds the same
number of samples, and for ``'weighted_mean'`` only when every process holds the same
sum of weights. :func:`global_batch_loss` divides
the local ``sum(s*w*l)`` by the normaliser summed over all processes (N, or ``sum(s*w)``),
so two processes give exactly the loss and gradients of one process on the whole batch.
"""

import torch
import torch.distributed as dist

__all__ = ["global_batch_loss"]


def global_batch_loss(loss_fn, y_pred, y_true, sample_weight=None, *, mask=None, group=None):
    """This process's share of the class-weighted loss of the global batch.

    Parameters
    ----------
    loss_fn : ClassWeightedLoss
        The loss, with any ``reduction``.
    y_pred, y_true, sample_weight, mask
        This process's part of the batch, as for :class:`~sktorchcw.ClassWeightedLoss`
        (per-frame batches too: ``'mean'`` counts the valid elements of all processes).
    group : torch.distributed.ProcessGroup, default=None
        The processes sharing the batch; the default group when None.

    Returns
    -------
    loss : torch.Tensor, scalar
        Scaled so that DDP's averaging of gradients over the ``W`` processes yields the
        gradient of the global-batch loss; the mean of the ``W`` returned values is the
        global-batch loss. Without an initialised process group it is the plain loss.

    Examples
    --------
    Outside a distributed job it is just the loss:

    >>> import torch
    >>> from torch import nn
    >>> from sktorchcw import ClassWeightedLoss
    >>> from sktorchcw.distributed import global_batch_loss
    >>> loss_fn = ClassWeightedLoss(nn.CrossEntropyLoss(), class_weight=[1.0, 3.0])
    >>> logits, y = torch.tensor([[1.0, -1.0], [0.0, 2.0]]), torch.tensor([0, 1])
    >>> bool(torch.isclose(global_batch_loss(loss_fn, logits, y), loss_fn(logits, y)))
    True
    """
    total, normaliser = loss_fn.parts(y_pred, y_true, sample_weight, mask=mask)
    if not (dist.is_available() and dist.is_initialized()):
        return total if normaliser is None else total / _positive(normaliser)
    world_size = dist.get_world_size(group)
    if normaliser is None:  # 'sum': DDP averages, the global sum needs the plain sum
        return total * world_size
    global_normaliser = normaliser.detach().clone()
    dist.all_reduce(global_normaliser, group=group)
    return total * world_size / _positive(global_normaliser)


def _positive(normaliser):
    # All weights zero across the whole batch: the loss is 0, not 0/0.
    return torch.where(normaliser > 0, normaliser, torch.ones_like(normaliser))

"""
Data-parallel training with class weights (DDP)
===============================================

Two processes (gloo backend, CPU) each train on half of every batch; the
class-weighted loss is normalised over the global batch by
:func:`sktorchcw.distributed.global_batch_loss`, so the result is the same as one
process training on whole batches. Run it as a script (it starts its two processes
with ``torch.multiprocessing``) or under ``torchrun``::

    python examples/train_data_parallel.py
    torchrun --nproc_per_node=2 examples/train_data_parallel.py

On GPUs use the ``nccl`` backend and move model and batches to ``cuda:<local rank>``.
"""

import os
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from sklearn.metrics import balanced_accuracy_score
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from sktorchcw import ClassWeightedLoss, LSTMLogits, resolve_class_weight
from sktorchcw.datasets import make_blink_dataset
from sktorchcw.distributed import global_batch_loss

EPOCHS, GLOBAL_BATCH = 8, 64


def train(rank, world_size):
    X, y = make_blink_dataset(1200, seq_len=40, prevalence=0.1, random_state=0)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    weights = resolve_class_weight("balanced", classes=[0, 1], y=y.numpy())
    loss_fn = ClassWeightedLoss(nn.MSELoss, class_weight=weights)
    torch.manual_seed(0)  # the same initial weights in every process
    mean, scale = X.mean(dim=(0, 1)), X.std(dim=(0, 1))
    model = DistributedDataParallel(
        LSTMLogits(n_features=2, n_outputs=2, hidden_size=16, input_mean=mean, input_scale=scale)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    shuffle = torch.Generator().manual_seed(0)  # the same permutation in every process
    for epoch in range(1, EPOCHS + 1):
        for batch in torch.randperm(len(y), generator=shuffle).split(GLOBAL_BATCH):
            mine = batch[rank::world_size]  # this process's share of the global batch
            optimizer.zero_grad()
            loss = global_batch_loss(loss_fn, model(X[mine]), y[mine])
            loss.backward()  # DDP averages the gradients over the processes
            optimizer.step()
        if rank == 0:
            with torch.no_grad():
                predicted = model.module(X).argmax(dim=1).numpy()
            print(f"epoch {epoch}: balanced accuracy {balanced_accuracy_score(y, predicted):.3f}")


def run(rank, world_size, init_method):
    dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world_size)
    try:
        train(rank, world_size)
        # Tear the group down together: a gloo process whose peer destroys the group while
        # it still works (rank 0 evaluates after the last epoch) can abort at exit.
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    if "RANK" in os.environ:  # started by torchrun
        run(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), "env://")
    else:
        with tempfile.TemporaryDirectory() as folder:
            init = f"file://{os.path.join(folder, 'init')}"
            mp.spawn(run, args=(2, init), nprocs=2, join=True)

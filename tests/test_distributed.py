"""Data-parallel training (DDP, gloo, 2 CPU processes) equals one process on the global batch."""

import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from sktorchcw import ClassWeightedLoss
from sktorchcw._module import LSTMLogits
from sktorchcw.distributed import global_batch_loss

GLOBAL_BATCH = 13
SPLIT = 8  # rank 0 gets 8 samples, rank 1 gets 5: unequal on purpose


def _batch():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(GLOBAL_BATCH, 6, 2, generator=generator)
    y = torch.randint(0, 3, (GLOBAL_BATCH,), generator=generator)
    sample_weight = torch.rand(GLOBAL_BATCH, generator=generator) + 0.5
    return x, y, sample_weight


def _model():
    torch.manual_seed(0)
    return LSTMLogits(n_features=2, n_outputs=3, hidden_size=5)


def _loss_fn(reduction):
    return ClassWeightedLoss(nn.MSELoss, class_weight=[1.0, 4.0, 0.5], reduction=reduction)


def _worker(rank, world_size, init_file, reductions, results):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size)
    try:
        x, y, sample_weight = _batch()
        part = slice(0, SPLIT) if rank == 0 else slice(SPLIT, None)
        for reduction in reductions:  # one process group for all: spawning costs seconds
            model = DistributedDataParallel(_model())
            loss = global_batch_loss(_loss_fn(reduction), model(x[part]), y[part],
                                     sample_weight[part])
            loss.backward()
            mean_loss = loss.detach().clone()
            dist.all_reduce(mean_loss)
            results[rank, reduction] = (float(mean_loss) / world_size,
                                        [p.grad.clone() for p in model.module.parameters()])
        dist.barrier()  # tear the group down together (see examples/train_data_parallel.py)
    finally:
        dist.destroy_process_group()


REDUCTIONS = ["mean", "weighted_mean", "sum"]


@pytest.fixture(scope="module")
def two_process_results():
    """``{(rank, reduction): (loss, gradients)}`` from 2 spawned processes, computed once."""
    with tempfile.TemporaryDirectory() as folder, mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(2, os.path.join(folder, "init"), REDUCTIONS, results),
                 nprocs=2, join=True)
        return dict(results)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_two_processes_give_the_loss_and_gradients_of_one(two_process_results, reduction):
    x, y, sample_weight = _batch()
    model = _model()
    single = _loss_fn(reduction)(model(x), y, sample_weight)
    single.backward()
    expected_grads = [p.grad for p in model.parameters()]
    for rank in (0, 1):
        loss, grads = two_process_results[rank, reduction]
        assert loss == pytest.approx(single.item(), rel=1e-5)
        for got, expected in zip(grads, expected_grads, strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_without_a_process_group_it_is_the_plain_loss():
    x, y, sample_weight = _batch()
    logits = _model()(x)
    for reduction in ("mean", "weighted_mean", "sum"):
        torch.testing.assert_close(global_batch_loss(_loss_fn(reduction), logits, y, sample_weight),
                                   _loss_fn(reduction)(logits, y, sample_weight))

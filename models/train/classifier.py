"""Train the Fashion-MNIST classifier used as the studio's quality instrument."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from models.data import fashion_mnist
from models.device import select_device
from models.nets import Classifier, ClassifierConfig
from models.train.common import (
    RunState,
    add_fashion_mnist_argument,
    descend,
    epoch_steps,
    export_model,
    one_cycle,
    training_record,
)

log = logging.getLogger(__name__)
TASK = "classification-fashion-mnist"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_fashion_mnist_argument(parser)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (one-cycle)")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--max-steps", type=int, default=None, help="stop early (smoke tests)")
    parser.add_argument("--model-id", default="fmnist-classifier")


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and shifts of up to 2 pixels (pad and crop)."""
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (2, 2, 2, 2), value=-1.0)
    dy, dx = torch.randint(0, 5, (2,), generator=generator).tolist()
    return padded[:, :, dy : dy + 28, dx : dx + 28]


@torch.inference_mode()
def accuracy(net: Classifier, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    net.eval()
    correct = 0
    for i in range(0, len(images), 1000):
        logits = net(images[i : i + 1000].to(device))
        correct += (logits.argmax(1).cpu() == labels[i : i + 1000]).sum().item()
    return correct / len(images)


def train(args: argparse.Namespace) -> Path:
    device = select_device(args.device)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    train_x, train_y = fashion_mnist.load_split("train", args.data)
    test_x, test_y = fashion_mnist.load_split("test", args.data)
    train_x, test_x = fashion_mnist.to_model_range(train_x), fashion_mnist.to_model_range(test_x)
    train_y, test_y = torch.from_numpy(train_y), torch.from_numpy(test_y)

    net = Classifier(ClassifierConfig(width=args.width)).to(device)
    steps_per_epoch, total_steps = epoch_steps(len(train_x), args.batch_size, args.epochs, args.max_steps)
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=5e-4)
    run = RunState(args.run_dir, net=net, optimizer=optimizer, generator=generator)
    step = run.step
    schedule = one_cycle(optimizer, args.lr, total_steps, step)

    progress = tqdm(total=total_steps, initial=step, desc="classifier", mininterval=5)
    while step < total_steps:
        order = torch.randperm(len(train_x), generator=generator)
        start = (step % steps_per_epoch) * args.batch_size
        net.train()
        for i in range(start, len(train_x), args.batch_size):
            idx = order[i : i + args.batch_size]
            x = augment(train_x[idx], generator).to(device)
            loss = F.cross_entropy(net(x), train_y[idx].to(device), label_smoothing=0.1)
            descend(optimizer, loss, schedule)
            step += 1
            progress.update(1)
            progress.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            run.save_every(args.checkpoint_minutes, step)
            if step >= total_steps:
                break
        if step % steps_per_epoch == 0:
            log.info("step %d: test accuracy %.4f", step, accuracy(net, test_x, test_y, device))
            net.train()
    progress.close()
    run.save(step)
    test_accuracy = accuracy(net, test_x, test_y, device)
    log.info("final test accuracy %.4f", test_accuracy)
    return export_model(
        args.export or args.run_dir / "model",
        model_id=args.model_id,
        task=TASK,
        architecture="fmnist-classifier",
        net=net.cpu(),
        training=training_record(step, run.clock.elapsed, device),
        metrics={"test_accuracy": round(test_accuracy, 4)},
    )

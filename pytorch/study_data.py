"""The study's data for its PyTorch stack (study_stack.py): Fashion-MNIST in
numpy, crop + flip. The one implementation behind //pytorch:finetune and
benchmarks/ddp_baseline.py (it was ddp_baseline's BatchMaker: the same
arrays, the same random draws, so the same batches; the same augmentation
and normalisation as train/data/fashion_mnist.cc):
IDX .gz files read with numpy, a class subset relabelled 0..k-1 in order,
the first N samples after selection, images centred on a black size x size
canvas (32x32 by default; the ViTs' --image_size) and then padded by 4 (one
(size + 8)^2 canvas each), per batch a random size x size crop and a
horizontal flip, 3 channels, normalised with mean 0.2860 / std 0.3530.
Shards are IID (a seeded permutation split rank::ranks); every rank runs the
same number of steps per epoch. Also `synthetic`: a small learnable set made
from the seed, for tests.

Plain numpy: importing it needs neither torch nor the freezing_torch
extension.
"""

import gzip
import os

import numpy as np

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MEAN = 0.2860
FASHION_STD = 0.3530


def read_idx(path):
  """An IDX file of unsigned bytes (1 or 3 dimensions) as a numpy array."""
  try:
    with gzip.open(path, "rb") as f:
      data = f.read()
  except FileNotFoundError:
    raise FileNotFoundError(
        f"{path} is missing (apt-get install dataset-fashion-mnist)") from None
  magic = int.from_bytes(data[0:4], "big")
  ndim = magic & 0xFF
  if (magic >> 8) != 0x08 or ndim not in (1, 3):
    raise ValueError(f"{path}: not an IDX file of unsigned bytes")
  dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
  arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
  return arr.reshape(dims)


def _select(images, labels, classes, limit):
  if classes:
    keep = np.isin(labels, classes)
    images, labels = images[keep], labels[keep]
    remap = np.zeros(256, dtype=np.int64)
    for i, c in enumerate(classes):
      remap[c] = i
    labels = remap[labels]
  else:
    labels = labels.astype(np.int64)
  if limit > 0:
    images, labels = images[:limit], labels[:limit]
  return images, labels


def _canvas(images, size=32):
  # Padded to size x size (centred, black, as train/data/augment.h) and then
  # by 4 for the random crop: one (size + 8)^2 canvas per image, cropped per
  # batch.
  if size < 28:
    raise ValueError(f"--image_size={size}: the images are 28x28")
  canvas = np.zeros((images.shape[0], size + 8, size + 8), dtype=np.uint8)
  top = 4 + (size - 28) // 2
  canvas[:, top:top + 28, top:top + 28] = images
  return canvas


def load_train(data_dir, classes, limit, size=32):
  """(canvas [n, size + 8, size + 8] uint8, labels [n] int64) of the
  training split."""
  images = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))
  labels = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"))
  images, labels = _select(images, labels, classes, limit)
  return _canvas(images, size), labels


def load_test(data_dir, classes, limit, size=32):
  images = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz"))
  labels = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz"))
  images, labels = _select(images, labels, classes, limit)
  return _canvas(images, size), labels


def synthetic(n, classes, seed, size=32):
  """A learnable set: each class a fixed random 28x28 pattern plus noise."""
  rng = np.random.default_rng(seed)
  k = max(1, len(classes)) if classes else 10
  patterns = rng.integers(0, 256, size=(k, 28, 28))
  labels = rng.integers(0, k, size=n).astype(np.int64)
  noise = rng.integers(-40, 41, size=(n, 28, 28))
  images = np.clip(patterns[labels] + noise, 0, 255).astype(np.uint8)
  return _canvas(images, size), labels


def load(spec, data_dir, classes, train_limit, test_limit, seed, size=32,
         test=True):
  """(train canvas, train labels, test canvas, test labels, classes); the
  test split is empty without `test`."""
  k = len(classes) if classes else 10
  if spec == "fashion_mnist":
    tr = load_train(data_dir, classes, train_limit, size)
    te = (load_test(data_dir, classes, test_limit, size) if test else
          (tr[0][:0], tr[1][:0]))
    return tr + te + (k,)
  if spec == "synthetic":
    n = train_limit if train_limit > 0 else 512
    nt = test_limit if test_limit > 0 else 128
    canvas, labels = synthetic(n + nt, classes, seed, size)
    return (canvas[:n], labels[:n], canvas[n:], labels[n:],
            len(classes) if classes else 10)
  raise ValueError(f"--data={spec}: this job knows fashion_mnist and "
                   "synthetic")


def _normalise_lut():
  return ((np.arange(256, dtype=np.float32) / 255.0 - FASHION_MEAN) /
          FASHION_STD).astype(np.float32)


class BatchMaker:
  """One rank's batches: IID shard, seeded shuffles, crop + flip, normalise."""

  def __init__(self, canvas, labels, rank, ranks, batch_size, seed,
               augment=True):
    n = canvas.shape[0]
    perm = np.random.default_rng(seed).permutation(n)
    self.shard = np.sort(perm[rank::ranks])
    self.canvas = canvas
    self.labels = labels
    self.batch_size = batch_size
    self.augment = augment
    self.rank = rank
    self.seed = seed
    self.rng = np.random.default_rng(seed * 1000003 + rank)
    # The same on every rank (the smallest shard), so no rank waits for a
    # step that another never runs.
    self.steps_per_epoch = (n // ranks) // batch_size
    if self.steps_per_epoch == 0:
      raise ValueError(
          f"rank {rank}'s shard ({n // ranks} samples) is smaller than one "
          f"batch ({batch_size})")
    self.lut = _normalise_lut()
    self.size = canvas.shape[1] - 8
    self.rows = np.arange(self.size)
    self.order = None
    self.pos = 0

  def _make(self, idx):
    b = len(idx)
    if self.augment:
      dy = self.rng.integers(0, 9, size=b)
      dx = self.rng.integers(0, 9, size=b)
      flip = self.rng.integers(0, 2, size=b).astype(bool)
    else:
      dy = np.full(b, 4)
      dx = np.full(b, 4)
      flip = np.zeros(b, dtype=bool)
    # Crop: gather rows then columns of each (size + 8)^2 canvas.
    ys = dy[:, None] + self.rows[None, :]  # [b, size]
    xs = dx[:, None] + self.rows[None, :]
    xs = np.where(flip[:, None], xs[:, ::-1], xs)
    imgs = self.canvas[idx]  # [b, size + 8, size + 8]
    crops = imgs[np.arange(b)[:, None, None], ys[:, :, None], xs[:, None, :]]
    x = self.lut[crops]  # [b, size, size] float32
    x = np.broadcast_to(x[:, None], (b, 3, self.size, self.size))
    return np.ascontiguousarray(x), self.labels[idx]

  def next(self):
    """The next batch, reshuffling when the shard is used up."""
    if self.order is None or self.pos + self.batch_size > len(self.order):
      self.order = self.rng.permutation(self.shard)
      self.pos = 0
    idx = self.order[self.pos:self.pos + self.batch_size]
    self.pos += self.batch_size
    return self._make(idx)

  def epoch(self):
    """steps_per_epoch batches (numpy arrays) of a fresh shuffle."""
    self.order = self.rng.permutation(self.shard)
    self.pos = 0
    for _ in range(self.steps_per_epoch):
      yield self.next()


def test_batches(canvas, labels, rank, ranks, batch_size):
  """This rank's share of the test split, centred, unaugmented, normalised."""
  lut = _normalise_lut()
  size = canvas.shape[1] - 8
  idx = np.arange(rank, canvas.shape[0], ranks)
  for start in range(0, len(idx), batch_size):
    i = idx[start:start + batch_size]
    x = lut[canvas[i][:, 4:4 + size, 4:4 + size]]
    yield (np.ascontiguousarray(np.broadcast_to(x[:, None],
                                                (len(i), 3, size, size))),
           labels[i])

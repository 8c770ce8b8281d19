"""The study's data for PyTorch jobs: Fashion-MNIST in numpy, crop + flip.

Moved here from benchmarks/ddp_baseline.py (the same arrays, the same
augmentation, the same normalisation as train/data/fashion_mnist.cc):
IDX .gz files read with numpy, a class subset relabelled 0..k-1 in order,
the first N samples after selection, images padded to 32x32 and then by 4
(one 40x40 canvas each), per batch a random 32x32 crop and a horizontal flip,
3 channels, normalised with mean 0.2860 / std 0.3530. Shards are IID
(a seeded permutation split rank::ranks); every rank runs the same number
of steps per epoch. Also `synthetic`: a small learnable set made from the
seed, for tests.
"""

import gzip
import os

import numpy as np

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MEAN = 0.2860
FASHION_STD = 0.3530
# The study's 7 freezable groups of torchvision's resnet18, in forward order.
CHILD_GROUPS = ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"]


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


def _canvas(images):
  # Padded to 32x32 (centred, black) and then by 4 for the random crop.
  canvas = np.zeros((images.shape[0], 40, 40), dtype=np.uint8)
  canvas[:, 6:34, 6:34] = images
  return canvas


def load_train(data_dir, classes, limit):
  """(canvas [n, 40, 40] uint8, labels [n] int64) of the training split."""
  images = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))
  labels = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"))
  images, labels = _select(images, labels, classes, limit)
  return _canvas(images), labels


def load_test(data_dir, classes, limit):
  images = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz"))
  labels = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz"))
  images, labels = _select(images, labels, classes, limit)
  return _canvas(images), labels


def synthetic(n, classes, seed):
  """A learnable set: each class a fixed random 28x28 pattern plus noise."""
  rng = np.random.default_rng(seed)
  k = max(1, len(classes)) if classes else 10
  patterns = rng.integers(0, 256, size=(k, 28, 28))
  labels = rng.integers(0, k, size=n).astype(np.int64)
  noise = rng.integers(-40, 41, size=(n, 28, 28))
  images = np.clip(patterns[labels] + noise, 0, 255).astype(np.uint8)
  return _canvas(images), labels


def load(spec, data_dir, classes, train_limit, test_limit, seed):
  """(train canvas, train labels, test canvas, test labels, classes)."""
  if spec == "fashion_mnist":
    tr = load_train(data_dir, classes, train_limit)
    te = load_test(data_dir, classes, test_limit)
    return tr + te + (len(classes) if classes else 10,)
  if spec == "synthetic":
    n = train_limit if train_limit > 0 else 512
    nt = test_limit if test_limit > 0 else 128
    canvas, labels = synthetic(n + nt, classes, seed)
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
    self.rows = np.arange(32)
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
    # Crop: gather rows then columns of each 40x40 canvas.
    ys = dy[:, None] + self.rows[None, :]  # [b, 32]
    xs = dx[:, None] + self.rows[None, :]
    xs = np.where(flip[:, None], xs[:, ::-1], xs)
    imgs = self.canvas[idx]  # [b, 40, 40]
    crops = imgs[np.arange(b)[:, None, None], ys[:, :, None], xs[:, None, :]]
    x = self.lut[crops]  # [b, 32, 32] float32
    x = np.broadcast_to(x[:, None], (b, 3, 32, 32))
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
  idx = np.arange(rank, canvas.shape[0], ranks)
  for start in range(0, len(idx), batch_size):
    i = idx[start:start + batch_size]
    x = lut[canvas[i][:, 4:36, 4:36]]
    yield (np.ascontiguousarray(np.broadcast_to(x[:, None],
                                                (len(i), 3, 32, 32))),
           labels[i])

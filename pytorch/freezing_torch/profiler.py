"""The start-up profile (trace.proto StartupProfile), as train/profiler.cc.

Measured on the first training batch before the first step, on every rank at
once, medians of `repeats` measurements after one warm-up each: per unit the
forward with autograd (training mode), the no-grad forward (BatchNorm in eval
mode), the backward including the input gradient and the backward as the
first trainable unit (no input gradient); the loss's forward and backward on
the logits; the optimizer's cost as a line through "all parameters" and "the
classifier alone" (clones with random gradients, the job's optimizer class and
hyper-parameters); a cache read per element; with more than one rank the
all-reduce time of every bucket size the run plans.

One difference from train/profiler.cc, which runs each unit alone on its
input: a PyTorch model's units are modules called from the model's own
forward, with code between them (ResNet's relu, maxpool, flatten), so units
are timed inside whole passes by the same clocks the steps use (unit_clock.py):
the profile then measures exactly what the steps record. The no-input-gradient
backward of unit u is measured with units 0..u-1 frozen, one pass per unit.

The model is left as it was: BatchNorm running statistics restored, gradients
cleared, requires_grad and modes as before.
"""

import time

import torch

from freezing_torch import trace_pb2


def _median(values):
  values = sorted(values)
  return values[len(values) // 2]


def _median_ns(repeats, fn):
  fn()
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter_ns()
    fn()
    times.append(time.perf_counter_ns() - t0)
  return _median(times)


def check_forward_order(clock):
  """ValueError unless every unit ran once, in the order of the list."""
  names = clock.layout.names
  order = clock.order
  if sorted(set(order)) != list(range(len(names))):
    missing = [names[u] for u in range(len(names)) if u not in order]
    raise ValueError(f"units: {', '.join(missing)} did not run in the "
                     "model's forward; every unit must run in every step")
  seen = []
  for u in order:
    if u in seen:
      continue
    if seen and u < seen[-1]:
      raise ValueError(
          f"units must be listed in forward order: {names[u]!r} ran after "
          f"{names[seen[-1]]!r}")
    seen.append(u)


def profile_startup(model, layout, clock, images, labels, loss_fn, optimizer,
                    bucket_bytes, repeats, group=None, ranks=1):
  """Returns (StartupProfile, output elements per sample of every unit)."""
  profile = trace_pb2.StartupProfile()
  profile.batch_size = int(images.shape[0])
  profile.repeats = repeats
  n = layout.num_units
  requires = [p.requires_grad for p in layout.params]
  modes = [m.training for m in model.modules()]
  frozen_before = list(clock.frozen)
  buffers = [b for b in model.buffers()]
  saved = [b.detach().clone() for b in buffers]
  out_elements = [0] * n
  try:
    for p in layout.params:
      p.requires_grad_(True)
    clock.frozen = [False] * n
    model.train()

    def forward(x):
      clock.reset()
      clock.active = True
      try:
        return model(x)
      finally:
        clock.active = False

    # Order check and output sizes, from one pass.
    with torch.no_grad():
      forward(images)
    check_forward_order(clock)
    batch = max(1, int(images.shape[0]))
    out_elements = [c // batch for c in clock.output_numel]

    def median_spans(one_pass):
      """Per unit, the median span of `repeats` passes after a warm-up."""
      one_pass()
      spans = [[] for _ in range(n)]
      for _ in range(repeats):
        for u, ns in enumerate(one_pass()):
          spans[u].append(ns)
      return [_median(s) for s in spans]

    def forward_pass():
      forward(images)
      return clock.forward_ns()

    forward_ns = median_spans(forward_pass)
    model.eval()
    with torch.no_grad():
      forward_nograd_ns = median_spans(forward_pass)
    model.train()

    def backward_pass(first_trainable, input_grad):
      x = images.detach().requires_grad_(input_grad)
      logits = forward(x)
      loss = loss_fn(logits, labels)
      t0 = time.perf_counter_ns()
      loss.backward()
      t1 = time.perf_counter_ns()
      model.zero_grad(set_to_none=True)
      return clock.backward_ns(first_trainable, t0, t1)

    # Backward with every input gradient (unit 0's too: the images need one).
    backward_ns = median_spans(lambda: backward_pass(0, True))

    # Backward of unit u as the first trainable one: units before it frozen.
    backward_no_input = [0] * n
    for u in range(n):
      for p, pu in zip(layout.params, layout.param_unit):
        p.requires_grad_(pu >= u)
      backward_pass(u, False)
      backward_no_input[u] = _median(
          [backward_pass(u, False)[u] for _ in range(repeats)])
    for p in layout.params:
      p.requires_grad_(True)

    for u in range(n):
      up = profile.units.add()
      up.unit = u
      up.forward_ns = forward_ns[u]
      up.forward_nograd_ns = forward_nograd_ns[u]
      up.backward_ns = backward_ns[u]
      up.backward_no_input_grad_ns = backward_no_input[u]

    with torch.no_grad():
      logits_value = model(images).detach()

    def loss_pass():
      logits = logits_value.detach().requires_grad_(True)
      loss_fn(logits, labels).backward()

    profile.loss_ns = _median_ns(repeats, loss_pass)

    # Optimizer: all parameters, then the classifier alone; a line through
    # both gives the cost per parameter and the fixed cost.
    def time_optimizer(first_unit):
      params = []
      for p, pu in zip(layout.params, layout.param_unit):
        if pu >= first_unit:
          c = p.detach().clone()
          c.grad = torch.randn_like(c)
          params.append(c)
      numel = sum(c.numel() for c in params)
      if optimizer is not None:
        opt = type(optimizer)(params, **optimizer.defaults)
      else:
        opt = torch.optim.SGD(params, lr=1e-3)
      return numel, _median_ns(repeats, opt.step)

    all_numel, all_ns = time_optimizer(0)
    last_numel, last_ns = time_optimizer(n - 1)
    per_param = 0.0
    if all_numel > last_numel:
      per_param = (all_ns - last_ns) / (all_numel - last_numel)
    per_param = max(0.0, per_param)
    profile.optimizer_ns_per_param = per_param
    profile.optimizer_fixed_ns = max(0, last_ns - int(per_param * last_numel))

    # A cache read: copying an activation (the input of unit min(n-1, 3)).
    captured = {}
    u_cache = min(n - 1, 3)

    def capture(module, inputs):
      captured["x"] = inputs[0].detach()

    h = layout.modules[u_cache].register_forward_pre_hook(capture)
    with torch.no_grad():
      model(images)
    h.remove()
    act = captured["x"]
    dst = torch.empty_like(act)
    ns = _median_ns(repeats, lambda: dst.copy_(act))
    profile.cache_read_ns_per_element = ns / max(1, act.numel())
  finally:
    with torch.no_grad():
      for b, s in zip(buffers, saved):
        b.copy_(s)
    model.zero_grad(set_to_none=True)
    for p, r in zip(layout.params, requires):
      p.requires_grad_(r)
    for m, t in zip(model.modules(), modes):
      m.training = t
    clock.frozen = frozen_before
    clock.active = False

  # All-reduce times for this run's bucket sizes (collective).
  if ranks > 1:
    import torch.distributed as dist
    for nbytes in sorted(set(bucket_bytes)):
      buf = torch.ones(max(1, nbytes // 4), dtype=torch.float32)
      ns = _median_ns(repeats, lambda: dist.all_reduce(buf, group=group))
      point = profile.allreduce.add()
      point.bytes = nbytes
      point.ns = ns
  return profile, out_elements

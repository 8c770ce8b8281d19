"""Recorder: a PyTorch (DDP) training loop writes our trace and freezes units
with our policies. See pytorch/README.md for the lines a script adds.

    rec = freezing_torch.Recorder(model, optimizer=opt, ddp=ddp, out=DIR,
                                  policy="gradnorm", steps_per_epoch=S,
                                  epochs=E)
    for epoch in range(E):
      for x, y in rec.batches(loader):          # times data; step starts
        loss = loss_fn(rec.net(x), y)           # rec.net: the current DDP
        rec.backward(loss)                      # instead of loss.backward()
        rec.step()                              # instead of opt.step()
      rec.end_epoch(test_accuracy=evaluate(model))
    rec.close()                                 # footer, summary.json

What happens where, and how it matches train/trainer.cc:
- Construction checks everything before any training (a unit that is not a
  module, a bad policy spec or vote rule: ValueError with the C++ message; a
  DDP whose buckets cannot be hooked: ValueError; an output folder that
  cannot be written: OSError on every rank) and opens DIR/trace.pb on rank 0
  through the project's C++ TraceWriter.
- The first batch: the start-up profile (profiler.py), the Header, the
  policy's initial decision (static:K) applied and recorded.
- Each step: data (the loader's next()), forward (until backward() is
  called, loss.item() included), backward and communication (a DDP
  communication hook adds each bucket's local gradients to the statistics,
  then all-reduces the bucket exactly as DDP's default hook does, recording
  its bytes and times), optimizer (step + zero_grad), statistics and, at the
  end of each base interval, the interval's norms and the Freezer (the C++
  one, through the extension). A decision is applied for real: requires_grad
  off, out of the optimizer's param groups (momentum kept, as train/'s Sgd),
  BatchNorm in eval mode, and DDP re-wrapped on the trainable parameters so
  no frozen gradient is all-reduced; the re-wrap's time is recorded in the
  FreezeEvent (apply_ns).
- Records: Step (rank 0's phases, all ranks' mean loss and max total),
  Interval (freeze_trace::ToTraceInterval), FreezeEvent
  (freeze_trace::ToTraceFreezeEvent), Epoch, Footer; summary.json with
  train/summary.cc's fields.
"""

import os
import socket
import sys
import time

import torch

from freezing_torch import _freezing
from freezing_torch import trace_pb2
from freezing_torch.grad_stats import GradientStatistics
from freezing_torch.profiler import profile_startup
from freezing_torch.summary import RunSummary
from freezing_torch.unit_clock import UnitClock
from freezing_torch.units import UnitLayout


def _now():
  return time.perf_counter_ns()


def _dist():
  import torch.distributed as dist
  return dist


def _cpu_model():
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return "unknown"


def _batch_samples(item):
  if isinstance(item, (tuple, list)) and item:
    item = item[-1]
  try:
    return int(len(item))
  except TypeError:
    return 0


class Recorder:
  """Records one DDP job as a trace and applies a freezing policy."""

  def __init__(self, model, units=None, optimizer=None, ddp=None, out=None,
               policy="none", vote_rule="global", stats_interval=10,
               stats_window=1, steps_per_epoch=None, epochs=1, max_steps=0,
               loss_fn=None, profile=True, profile_repeats=3, model_name=None,
               config=None, revision="unknown", summary=True, log=None):
    self._created_ns = _now()
    dist = _dist()
    self.model = model
    self.optimizer = optimizer
    self.log = log
    self.loss_fn = loss_fn if loss_fn is not None else torch.nn.CrossEntropyLoss()
    self.distributed = dist.is_available() and dist.is_initialized()
    if ddp is not None:
      self._check_ddp(ddp)
    self.group = ddp.process_group if ddp is not None else None
    self.ranks = dist.get_world_size(self.group) if self.distributed else 1
    self.rank = dist.get_rank(self.group) if self.distributed else 0
    self.profile_enabled = profile
    self.profile_repeats = int(profile_repeats)
    self.revision = revision
    self.write_summary = summary

    self.layout = UnitLayout(model, units)
    self._default_units = units is None
    n = self.layout.num_units
    self.frozen = [False] * n

    self._set_steps(steps_per_epoch, epochs, max_steps, stats_interval)
    self._check_optimizer()
    self._make_freezer(policy, vote_rule, stats_window)
    self.stats = GradientStatistics(
        [p.numel() for p in self.layout.params], self.layout.param_unit, n,
        self.stats_window, rank=self.rank, ranks=self.ranks, group=self.group)
    self._attach_ddp(ddp)
    self.clock = UnitClock(self.layout)
    self._open_output(out)

    self.config = config or {}
    self.model_name = model_name or type(model).__name__.lower()
    self.global_step = 0
    self.epoch = -1
    self._started = False
    self._in_step = False
    self._closed = False
    self._initial = None
    self.summary = RunSummary(policy=policy, ranks=self.ranks,
                              threads=torch.get_num_threads(),
                              epochs=self.epochs)
    self._epoch_steps = 0
    self._epoch_train_ns = 0
    self._epoch_loss_sum = 0.0
    self._epoch_start = 0
    self._last_step_end = 0
    self._buckets = []
    frozen = list(self.frozen)
    decision, frozen = self.freezer.initial(frozen)
    if not decision.decision.empty():
      self._initial = (decision, frozen)

  # -------------------------------------------------------------------------
  # Construction

  def _set_steps(self, steps_per_epoch, epochs, max_steps, stats_interval):
    if steps_per_epoch is None or int(steps_per_epoch) < 1:
      raise ValueError("steps_per_epoch: give the number of steps per epoch "
                       f"(>= 1), got {steps_per_epoch!r}")
    if int(epochs) < 1:
      raise ValueError(f"epochs must be >= 1, got {epochs!r}")
    if int(stats_interval) < 1:
      raise ValueError(
          f"--stats_interval must be >= 1, got {stats_interval!r}")
    self.steps_per_epoch = int(steps_per_epoch)
    self.epochs = int(epochs)
    self.total_steps = self.steps_per_epoch * self.epochs
    if max_steps and int(max_steps) > 0:
      self.total_steps = min(self.total_steps, int(max_steps))
    self.stats_interval = int(stats_interval)

  def _check_optimizer(self):
    if self.optimizer is None:
      return
    owned = {id(p) for p in self.layout.params}
    self._groups = [list(g["params"]) for g in self.optimizer.param_groups]
    for g in self._groups:
      for p in g:
        if id(p) not in owned:
          raise ValueError("optimizer: it holds a parameter that is not "
                           "the model's")

  def _make_freezer(self, policy, vote_rule, stats_window):
    """The Freezer exactly as train/trainer.cc's SetupFreezing makes it: a
    probe learns the policy's window, W covers it."""
    n = self.layout.num_units
    self.policy_given = policy
    self.vote_rule = _freezing.check_vote_rule(vote_rule)
    context = _freezing.PolicyContext(
        units=[_freezing.UnitInfo(name, params, u == n - 1)
               for u, (name, params) in enumerate(
                   zip(self.layout.names, self.layout.unit_params))],
        total_steps=self.total_steps, steps_per_epoch=self.steps_per_epoch,
        base_interval_steps=self.stats_interval, max_window=16,
        ranks=self.ranks)
    probe = _freezing.Freezer(policy, self.vote_rule, context, [self.rank])
    self.stats_window = max(int(stats_window), probe.window())
    context.max_window = self.stats_window
    self.freezer = _freezing.Freezer(policy, self.vote_rule, context,
                                     [self.rank])
    self.policy_spec = self.freezer.policy_spec()

  def _attach_ddp(self, ddp):
    """Hooks the DDP now (an error if it cannot be); re-wrapped later."""
    if ddp is None and self.ranks > 1:
      raise ValueError(
          f"ddp: the job has {self.ranks} ranks: give the "
          "DistributedDataParallel that wraps the model (ddp=...)")
    self.ddp = None
    self.net = self.model
    self._ddp_options = None
    if ddp is not None:
      self._ddp_options = self._ddp_options_of(ddp)
      self._hook(ddp)
      self.ddp = ddp
      self.net = ddp

  def _open_output(self, out):
    """Opens out/trace.pb on rank 0; every rank learns whether it worked."""
    self.out = out
    self.writer = None
    error = ""
    if self.rank == 0:
      if not out:
        error = "out: give the output folder (out=DIR)"
      else:
        try:
          os.makedirs(out, exist_ok=True)
          self.writer = _freezing.TraceWriter(os.path.join(out, "trace.pb"))
        except OSError as e:
          error = f"out={out!r}: cannot write the output folder: {e}"
    if self.distributed and self.ranks > 1:
      box = [error]
      _dist().broadcast_object_list(box, src=0, group=self.group)
      error = box[0]
    if error:
      if self.writer is not None:
        self.writer.close()
      raise OSError(error)

  # -------------------------------------------------------------------------
  # DDP

  def _check_ddp(self, ddp):
    from torch.nn.parallel import DistributedDataParallel
    if not isinstance(ddp, DistributedDataParallel):
      raise ValueError(
          f"ddp: expected a torch.nn.parallel.DistributedDataParallel, got "
          f"{type(ddp).__name__}")
    if ddp.module is not self.model:
      raise ValueError("ddp: it wraps another module than `model` (give "
                       "the module itself as model and its DDP as ddp)")

  @staticmethod
  def _ddp_options_of(ddp):
    return dict(device_ids=ddp.device_ids, output_device=ddp.output_device,
                dim=ddp.dim, broadcast_buffers=ddp.broadcast_buffers,
                process_group=ddp.process_group,
                bucket_cap_mb=ddp.bucket_bytes_cap / (1024 * 1024),
                find_unused_parameters=ddp.find_unused_parameters,
                gradient_as_bucket_view=ddp.gradient_as_bucket_view,
                static_graph=getattr(ddp, "static_graph", False))

  def _hook(self, ddp):
    try:
      ddp.register_comm_hook(None, self._comm_hook)
    except (RuntimeError, AssertionError, ValueError) as e:
      raise ValueError(
          "ddp: cannot hook its gradient buckets, so their bytes, times and "
          "local gradients cannot be recorded: " + str(e).split("\n")[0] +
          " (give a DDP without a communication hook of its own)") from None

  def _comm_hook(self, state, bucket):
    dist = _dist()
    t_ready = _now()
    buffer = bucket.buffer()
    index = self.layout.param_index
    for p, g in zip(bucket.parameters(), bucket.gradients()):
      self.stats.accumulate_local(index[id(p)], g)
    # As DDP's default hook: divide, then sum (the averaged gradient).
    buffer.div_(self.ranks)
    t_start = _now()
    record = [buffer.numel() * buffer.element_size(), t_ready, t_start, 0]
    self._buckets.append(record)
    fut = dist.all_reduce(buffer, group=self.group,
                          async_op=True).get_future()

    def done(f):
      record[3] = _now()
      return f.value()[0]

    return fut.then(done)

  def _rewrap(self):
    from torch.nn.parallel import DistributedDataParallel
    ddp = DistributedDataParallel(self.model, **self._ddp_options)
    self._hook(ddp)
    self.ddp = ddp
    self.net = ddp

  # -------------------------------------------------------------------------
  # Start: profile, header, initial decision.

  def _bucket_bytes(self):
    dist = _dist()
    params = [p for p in self.layout.params]
    sizes = [sum(p.numel() * p.element_size() for p in params)]
    try:
      cap = int(self._ddp_options["bucket_cap_mb"] * 1024 * 1024)
      buckets, _ = dist._compute_bucket_assignment_by_size(
          list(reversed(params)), [dist._DEFAULT_FIRST_BUCKET_BYTES, cap])
      rev = list(reversed(params))
      for b in buckets:
        sizes.append(sum(rev[i].numel() * rev[i].element_size() for i in b))
    except (AttributeError, RuntimeError, TypeError):
      pass
    return sizes

  def _start(self, item):
    dist = _dist()
    profile, out_elements = None, [0] * self.layout.num_units
    if self.profile_enabled:
      images, labels = item[0], item[-1]
      profile, out_elements = profile_startup(
          self.model, self.layout, self.clock, images, labels, self.loss_fn,
          self.optimizer, self._bucket_bytes() if self.ranks > 1 else [],
          self.profile_repeats, group=self.group, ranks=self.ranks)
    hosts = [socket.gethostname()]
    if self.distributed and self.ranks > 1:
      hosts = [None] * self.ranks
      dist.all_gather_object(hosts, socket.gethostname(), group=self.group)
    if self.writer is not None:
      self._write(header=self._header(out_elements, hosts))
      if profile is not None:
        self._write(profile=profile)
    if self._initial is not None:
      decision, frozen = self._initial
      self._apply(decision, frozen)  # counted in startup_ns
      self._record_event(decision)
    self._started = True
    self.summary.startup_ns += _now() - self._created_ns

  def _header(self, out_elements, hosts):
    import google.protobuf
    h = trace_pb2.Header()
    h.schema_version = _freezing.SCHEMA_VERSION
    c = h.config
    for key, value in self.config.items():
      field = c.DESCRIPTOR.fields_by_name.get(key)
      if field is None:
        raise ValueError(f"config: {key!r} is not a RunConfig field "
                         "(trace/trace.proto)")
      if field.label == field.LABEL_REPEATED:
        getattr(c, key).extend(value)
      else:
        setattr(c, key, value)
    if not c.model:
      c.model = self.model_name
    if not c.freeze_unit:
      c.freeze_unit = "child" if self._default_units else "module"
    classifier = self.layout.modules[-1]
    if not c.num_classes and hasattr(classifier, "out_features"):
      c.num_classes = int(classifier.out_features)
    c.epochs = self.epochs
    c.steps_per_epoch = self.steps_per_epoch
    if self.optimizer is not None:
      d = self.optimizer.defaults
      c.lr = float(d.get("lr", 0.0))
      c.momentum = float(d.get("momentum", 0.0))
      c.weight_decay = float(d.get("weight_decay", 0.0))
      if not c.lr_schedule:
        c.lr_schedule = "constant"
    c.policy = self.policy_spec
    c.vote_rule = self.vote_rule
    c.stats_interval = self.stats_interval
    c.stats_window = self.stats_window
    c.threads = torch.get_num_threads()
    c.ranks = self.ranks
    if self.ddp is not None:
      dist = _dist()
      # gloo progresses the all-reduces on its own threads beside backward.
      c.comm_mode = "thread"
      c.first_bucket_bytes = dist._DEFAULT_FIRST_BUCKET_BYTES
      c.bucket_cap_bytes = int(self._ddp_options["bucket_cap_mb"] * 1024 *
                               1024)
    else:
      c.comm_mode = "sync"
    if not c.out:
      c.out = os.path.abspath(self.out)
    for u, name in enumerate(self.layout.names):
      tu = h.units.add()
      tu.name = name
      tu.params = self.layout.unit_params[u]
      tu.bytes = self.layout.unit_bytes[u]
      tu.is_classifier = u == self.layout.num_units - 1
      tu.output_elements_per_sample = out_elements[u]
    for name, p, u in zip(self.layout.param_names, self.layout.params,
                          self.layout.param_unit):
      tp = h.params.add()
      tp.name = name
      tp.numel = p.numel()
      tp.element_bytes = p.element_size()
      tp.unit = u
    m = h.machine
    m.cores = len(os.sched_getaffinity(0))
    m.threads_per_rank = torch.get_num_threads()
    m.cpu_model = _cpu_model()
    distinct = []
    for host in hosts:
      if host not in distinct:
        distinct.append(host)
    m.hostname = ",".join(distinct)
    libs = [("torch", torch.__version__),
            ("protobuf", google.protobuf.__version__),
            ("python", ".".join(map(str, sys.version_info[:3])))]
    try:
      import torchvision
      libs.append(("torchvision", torchvision.__version__))
    except ImportError:
      pass
    for name, version in libs:
      lib = h.libraries.add()
      lib.name = name
      lib.version = version
    h.revision = self.revision
    h.start_unix_ns = time.time_ns()
    return h

  def _write(self, **record):
    if self.writer is not None:
      self.writer.write(trace_pb2.TraceRecord(**record).SerializeToString())

  # -------------------------------------------------------------------------
  # Freezing

  def _apply(self, decision, frozen):
    """Freezes for real and re-wraps DDP; returns the time it took."""
    t0 = _now()
    self.frozen = list(frozen)
    layout = self.layout
    for p, u in zip(layout.params, layout.param_unit):
      p.requires_grad_(not self.frozen[u])
      if self.frozen[u]:
        p.grad = None
    for u, module in enumerate(layout.modules):
      if self.frozen[u]:
        module.eval()
      elif self.model.training:
        module.train()
    self.clock.frozen = list(self.frozen)
    if self.optimizer is not None:
      for group, params in zip(self.optimizer.param_groups, self._groups):
        group["params"] = [p for p in params if p.requires_grad]
    if self.ddp is not None:
      self._rewrap()
    apply_ns = _now() - t0
    d = decision.decision
    names = layout.names
    for u in d.freeze:
      self.summary.freeze_events.append(
          (u, names[u], decision.apply_step, decision.epoch, False))
    for u in d.unfreeze:
      self.summary.freeze_events.append(
          (u, names[u], decision.apply_step, decision.epoch, True))
    if self.log is not None and self.rank == 0:
      what = []
      if d.freeze:
        what.append("froze " + "+".join(names[u] for u in d.freeze))
      if d.unfreeze:
        what.append("unfroze " + "+".join(names[u] for u in d.unfreeze))
      self.log(f"step {decision.apply_step} (epoch {decision.epoch}): "
               f"{' '.join(what)} [{self.policy_given}, rule "
               f"{self.vote_rule}] in {apply_ns / 1e6:.1f} ms"
               + (f" — {d.reason}" if d.reason else ""))
    return apply_ns

  def _record_event(self, decision):
    if self.writer is not None:
      self._write(freeze_event=trace_pb2.FreezeEvent.FromString(
          self.freezer.freeze_event(decision)))

  def _exchange(self, mine):
    dist = _dist()
    out = [None] * self.ranks
    dist.all_gather_object(out, mine, group=self.group)
    return out

  # -------------------------------------------------------------------------
  # The training loop's calls

  @property
  def done(self):
    """True once total_steps (epochs x steps_per_epoch, max_steps) ran."""
    return self.global_step >= self.total_steps

  def batches(self, iterable):
    """Yields the batches of one epoch, timing each fetch as data."""
    if self._closed:
      raise RuntimeError("the recorder is closed")
    self.epoch += 1
    self._epoch_start = _now()
    self._epoch_steps = 0
    self._epoch_train_ns = 0
    self._epoch_loss_sum = 0.0
    it = iter(iterable)
    while not self.done:
      t0 = _now()
      try:
        item = next(it)
      except StopIteration:
        return
      t1 = _now()
      if not self._started:
        self._start(item)
        t1, t0 = _now(), _now() - (t1 - t0)
      self._begin_step(t0, t1, item)
      yield item
      if self._in_step:
        raise RuntimeError("rec.step() was not called for the last batch")
      self._last_step_end = _now()

  def _begin_step(self, t0, t1, item):
    self._in_step = True
    self._step_start = t0
    self._data_ns = t1 - t0
    self._data_end = t1
    self._samples = _batch_samples(item)
    self._buckets = []
    self._loss = None
    self.stats.take_accumulate_ns()
    self.clock.reset()
    self.clock.active = True

  def backward(self, loss, samples=None):
    """loss.backward(), timed; ends the forward phase."""
    if not self._in_step:
      raise RuntimeError("backward() outside a step: iterate rec.batches()")
    self._loss = float(loss.item())
    t = _now()
    self.clock.active = False
    if samples is not None:
      self._samples = int(samples)
    self._forward_ns = t - self._data_end
    self._unit_forward_ns = self.clock.forward_ns()
    self._backward_start = _now()
    loss.backward()
    self._backward_end = _now()
    first = 0
    while first < self.layout.num_units and self.frozen[first]:
      first += 1
    self._first_trainable = first
    if self.ddp is not None:
      starts = [b[2] for b in self._buckets]
      compute_end = max(starts) if starts else self._backward_end
      self._accumulate_ns = self.stats.take_accumulate_ns()
      self._comm_exposed_ns = max(0, self._backward_end - compute_end)
      self._backward_ns = compute_end - self._backward_start - \
          self._accumulate_ns
    else:
      compute_end = self._backward_end
      for i, p in enumerate(self.layout.params):
        if p.grad is not None and not self.frozen[self.layout.param_unit[i]]:
          self.stats.accumulate_local(i, p.grad)
      self._accumulate_ns = self.stats.take_accumulate_ns()
      self._comm_exposed_ns = 0
      self._backward_ns = compute_end - self._backward_start
    self._unit_backward_ns = self.clock.backward_ns(
        first, self._backward_start, compute_end)

  def step(self):
    """optimizer.step() and zero_grad(), timed; ends the step: statistics,
    the policy, the trace records, a freeze if the policy decides one.
    Returns the step's loss, averaged over the ranks."""
    if not self._in_step or self._loss is None:
      raise RuntimeError("step() before backward() in this step")
    t_opt = _now()
    if self.optimizer is not None:
      self.optimizer.step()
      self.optimizer.zero_grad(set_to_none=True)
      optimizer_ns = _now() - t_opt
    else:
      optimizer_ns = t_opt - self._backward_end  # the script's own update
    trained = [not f for f in self.frozen]
    self.stats.end_step(self._samples, self._loss * self._samples, trained)
    stats, decision, new_frozen, interval_ns = self._end_of_interval()
    total_ns = _now() - self._step_start
    loss_mean, max_total = self._gather_step(total_ns)

    times = dict(data=self._data_ns, forward=self._forward_ns,
                 backward=self._backward_ns,
                 comm_exposed=self._comm_exposed_ns,
                 comm_total=sum(max(0, b[3] - b[2]) for b in self._buckets),
                 optimizer=optimizer_ns,
                 stats=self._accumulate_ns + interval_ns, total=total_ns)
    nbytes = sum(b[0] for b in self._buckets)
    self.summary.add_step(images=self._samples * self.ranks,
                          bytes_allreduced=nbytes, **times)
    self._epoch_train_ns += total_ns
    self._epoch_loss_sum += loss_mean
    self._epoch_steps += 1

    apply_ns = 0
    if decision is not None:
      apply_ns = self._apply(decision, new_frozen)
      self.summary.freeze_apply_ns += apply_ns
    if self.writer is not None:
      rec = self._step_record(times, trained, loss_mean, max_total)
      rec.freeze_apply_ns = apply_ns
      self._write(step=rec)
      if stats is not None:
        self.writer.write_interval(stats)
    if decision is not None:
      self._record_event(decision)
    self.global_step += 1
    self._in_step = False
    return loss_mean

  def _end_of_interval(self):
    """At a base interval's end: its statistics and the Freezer's answer."""
    step, T = self.global_step, self.stats_interval
    if (step + 1) % T != 0:
      return None, None, self.frozen, 0
    t0 = _now()
    stats = self.stats.finish_interval(
        (step + 1) // T - 1, step + 1 - T, step, self.epoch,
        (step + 1) / self.total_steps)
    exchange = self._exchange if self.ranks > 1 else None
    decision, new_frozen = self.freezer.on_base_interval(
        stats, list(self.frozen), exchange)
    return stats, decision, new_frozen, _now() - t0

  def _gather_step(self, total_ns):
    """(loss mean over ranks, max total over ranks): one small all-gather,
    as train/trainer.cc."""
    if self.ranks == 1:
      return self._loss, float(total_ns)
    mine = torch.tensor([self._loss, float(total_ns)], dtype=torch.float64)
    every = [torch.empty_like(mine) for _ in range(self.ranks)]
    _dist().all_gather(every, mine, group=self.group)
    loss_mean, max_total = 0.0, 0.0
    for r in every:
      loss_mean += r[0].item() / self.ranks
      max_total = max(max_total, r[1].item())
    return loss_mean, max_total

  def _step_record(self, times, trained, loss_mean, max_total):
    rec = trace_pb2.Step()
    rec.step = self.global_step
    rec.epoch = self.epoch
    ph = rec.phases
    ph.data_ns = times["data"]
    ph.forward_ns = times["forward"]
    ph.backward_ns = times["backward"]
    ph.comm_total_ns = times["comm_total"]
    ph.comm_exposed_ns = times["comm_exposed"]
    ph.optimizer_ns = times["optimizer"]
    ph.stats_ns = times["stats"]
    ph.total_ns = times["total"]
    ph.other_ns = max(0, times["total"] - sum(
        times[k] for k in ("data", "forward", "backward", "comm_exposed",
                           "optimizer", "stats")))
    rec.unit_forward_ns.extend(self._unit_forward_ns)
    rec.unit_backward_ns.extend(self._unit_backward_ns)
    rec.bytes_allreduced = sum(b[0] for b in self._buckets)
    rec.buckets = len(self._buckets)
    rec.trainable.extend(trained)
    rec.loss = loss_mean
    for nbytes, ready, start, done in self._buckets:
      bt = rec.bucket_timings.add()
      bt.bytes = nbytes
      bt.ready_ns = ready - self._backward_start
      bt.start_ns = start - self._backward_start
      bt.done_ns = done - self._backward_start
    rec.cache.boundary_unit = -1
    rec.max_rank_total_ns = int(max_total)
    if self.optimizer is not None:
      rec.lr = float(self.optimizer.param_groups[0].get("lr", 0.0))
    return rec

  def end_epoch(self, test_accuracy=0.0, test_loss=0.0, eval_ns=None):
    """After the epoch's evaluation: the Epoch record."""
    now = _now()
    if eval_ns is None:
      eval_ns = now - self._last_step_end if self._last_step_end else 0
    s = self.summary
    s.eval_ns += eval_ns
    s.test_accuracy_per_epoch.append(float(test_accuracy))
    s.test_loss_per_epoch.append(float(test_loss))
    if self.writer is not None:
      e = trace_pb2.Epoch()
      e.epoch = self.epoch
      e.last_step = self.global_step - 1
      e.test_accuracy = float(test_accuracy)
      e.test_loss = float(test_loss)
      e.train_loss = (self._epoch_loss_sum / self._epoch_steps
                      if self._epoch_steps else 0.0)
      e.train_ns = self._epoch_train_ns
      e.eval_ns = int(eval_ns)
      e.wall_ns = now - self._epoch_start
      self._write(epoch=e)

  def close(self):
    """The Footer, summary.json (rank 0); removes the hooks."""
    if self._closed:
      return
    self._closed = True
    self.clock.remove()
    s = self.summary
    if self.writer is not None:
      f = trace_pb2.Footer()
      f.steps = s.steps
      f.total_time_ns = s.phases["total"]
      f.final_test_accuracy = (s.test_accuracy_per_epoch[-1]
                               if s.test_accuracy_per_epoch else 0.0)
      f.startup_ns = s.startup_ns
      f.eval_ns = s.eval_ns
      f.bytes_allreduced = s.bytes_allreduced
      self._write(footer=f)
      self.writer.close()
      if self.write_summary:
        s.write(os.path.join(self.out, "summary.json"))

  def abandon(self):
    """Closes the trace without a footer (a run that did not finish)."""
    self._closed = True
    self.clock.remove()
    if self.writer is not None:
      self.writer.close()

  def __enter__(self):
    return self

  def __exit__(self, kind, value, tb):
    if kind is None:
      self.close()
    else:
      self.abandon()
    return False

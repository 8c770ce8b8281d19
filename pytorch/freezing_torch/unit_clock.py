"""Per-unit forward and backward clocks from module and tensor hooks.

Forward: a forward pre-hook and a forward hook on every unit. Unit u's
forward runs from its pre-hook to the next unit's pre-hook (so the
parameter-free modules between two units, like ResNet's relu and maxpool
after bn1, count in the unit before them, as in train/models), the last
unit's to its own forward hook.

Backward: the pre-hook registers a hook on the unit's input when it needs a
gradient; it fires when the gradient reaches the input, i.e. when the unit's
backward is done. Unit u's backward runs from that of unit u+1 (the last
unit's: from the start of backward) to that of unit u (the first trainable
unit, whose input needs no gradient: to the end of the backward computation),
as train/step_runner.cc measures it. The times sum to the backward
computation.

The pre-hook also keeps frozen units' BatchNorm in eval mode when
model.train() has switched them back.
"""

import time


class UnitClock:

  def __init__(self, layout):
    self.layout = layout
    n = layout.num_units
    self.pre = [0] * n
    self.post = [0] * n
    self.grad_in = [0] * n
    self.output_numel = [0] * n
    self.order = []
    self.active = False
    self.frozen = [False] * n
    self._handles = []
    for u, m in enumerate(layout.modules):
      self._handles.append(m.register_forward_pre_hook(self._pre_hook(u)))
      self._handles.append(m.register_forward_hook(self._post_hook(u)))

  def remove(self):
    for h in self._handles:
      h.remove()
    self._handles = []

  def reset(self):
    n = self.layout.num_units
    self.pre = [0] * n
    self.post = [0] * n
    self.grad_in = [0] * n
    self.order = []

  def _pre_hook(self, u):
    def hook(module, inputs):
      if self.frozen[u] and module.training:
        module.eval()
      if not self.active:
        return None
      self.order.append(u)
      self.pre[u] = time.perf_counter_ns()
      x = inputs[0] if inputs else None
      if x is not None and getattr(x, "requires_grad", False):
        slot = self.grad_in

        def arrived(grad):
          slot[u] = time.perf_counter_ns()
          return None

        x.register_hook(arrived)
      return None
    return hook

  def _post_hook(self, u):
    def hook(module, inputs, output):
      if not self.active:
        return None
      self.post[u] = time.perf_counter_ns()
      if hasattr(output, "numel"):
        self.output_numel[u] = output.numel()
      return None
    return hook

  def forward_ns(self):
    """Per unit, this pass's forward span (0 for a unit that did not run)."""
    n = self.layout.num_units
    out = [0] * n
    for u in range(n):
      if self.pre[u] == 0:
        continue
      end = self.post[u]
      if u + 1 < n and self.pre[u + 1] >= self.post[u] > 0:
        end = self.pre[u + 1]
      out[u] = max(0, end - self.pre[u])
    return out

  def backward_ns(self, first_trainable, backward_start, compute_end):
    """Per unit, this pass's backward span, from the input-gradient hooks."""
    n = self.layout.num_units
    out = [0] * n
    for u in range(first_trainable, n):
      begin = backward_start if u == n - 1 else self.grad_in[u + 1]
      end = compute_end if u == first_trainable else self.grad_in[u]
      if begin > 0 and end >= begin:
        out[u] = end - begin
    return out

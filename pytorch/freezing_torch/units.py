"""Freezable units of an nn.Module, as our trainer's UnitModel has them.

A unit is a submodule named as in model.named_modules(); units are in
forward order and the last one is the classifier (never frozen). By default
the units are the model's direct children that hold parameters, in
registration order (our --freeze_unit=child: torchvision's resnet18 gives
conv1, bn1, layer1, layer2, layer3, layer4, fc). Every parameter must belong
to exactly one unit.
"""


class UnitLayout:
  """Units, parameters and which unit each parameter belongs to."""

  def __init__(self, model, units=None):
    modules = dict(model.named_modules())
    if units is None:
      units = [name for name, child in model.named_children()
               if any(True for _ in child.parameters())]
      if not units:
        raise ValueError("units: the model has no child module with "
                         "parameters; name the units (units=[...])")
    else:
      units = list(units)
      if not units:
        raise ValueError("units: the list is empty")
    for name in units:
      if not isinstance(name, str) or name not in modules or name == "":
        valid = [n for n, m in model.named_children()]
        raise ValueError(
            f"units: {name!r} is not a module of the model (its children: "
            f"{', '.join(valid)}; nested modules are named like 'layer1.0')")
    if len(set(units)) != len(units):
      raise ValueError(f"units: a module is named twice in {units}")
    self.names = units
    self.modules = [modules[n] for n in units]

    # Parameters in registration order, with their unit. A parameter shared
    # by two units, or inside two nested units, is an error.
    self.param_names = []
    self.params = []
    self.param_unit = []
    owner = {}
    for u, m in enumerate(self.modules):
      for p in m.parameters():
        if id(p) in owner:
          raise ValueError(
              f"units: {units[owner[id(p)]]!r} and {units[u]!r} share "
              "parameters (nested or tied modules cannot be separate units)")
        owner[id(p)] = u
    for name, p in model.named_parameters():
      if id(p) not in owner:
        raise ValueError(
            f"units: parameter {name!r} belongs to no unit; every parameter "
            f"must be in one of {units}")
      self.param_names.append(name)
      self.params.append(p)
      self.param_unit.append(owner[id(p)])
    self.num_units = len(units)
    self.unit_params = [0] * self.num_units
    self.unit_bytes = [0] * self.num_units
    for p, u in zip(self.params, self.param_unit):
      self.unit_params[u] += p.numel()
      self.unit_bytes[u] += p.numel() * p.element_size()
    self.param_index = {id(p): i for i, p in enumerate(self.params)}

  def unit_param_indices(self, u):
    return [i for i, pu in enumerate(self.param_unit) if pu == u]

"""freezing_torch: record a PyTorch DDP job as our trace and freeze its units
with our policies (pytorch/README.md).

  Recorder                 the recorder (recorder.py)
  Freezer, PolicyContext, UnitInfo, make_policy, policy_names, ...
                           freeze/ itself, through the C++ extension
  TraceWriter              trace/'s writer, through the extension
  trace_pb2                Python classes generated from trace/trace.proto
"""

from freezing_torch import _freezing
from freezing_torch import trace_pb2
from freezing_torch._freezing import (BaseIntervalStats, Decision, Freezer,
                                      FreezeDecision, Guards, PolicyContext,
                                      RankWindowStats, TraceWriter, UnitInfo,
                                      Vote, WindowNorms, make_policy,
                                      policy_names, vote_rule_names)
from freezing_torch.recorder import Recorder

#!/bin/bash
# Does MPI_Finalize hang over UCX TCP? 40 short 2-rank jobs under whatever load
# there is; counts the ones whose ranks left by the bound of
# comm/mpi_session.h. From the checkout, after bazel build //comm:smoke:
#   comm/finalize_hang_loop.sh
n=0; hung=0
for i in $(seq 1 40); do
  start=$(date +%s.%N)
  UCX_TLS=tcp,self FREEZING_FINALIZE_TIMEOUT_S=20 timeout 120 "${SMOKE:-bazel-bin/comm/smoke}" --ranks=2 > ${TMPDIR:-/tmp}/hangloop.$i.log 2>&1
  rc=$?
  end=$(date +%s.%N)
  if grep -q "MPI_Finalize has not returned" ${TMPDIR:-/tmp}/hangloop.$i.log || [ $rc -ne 0 ]; then hung=$((hung+1)); echo "run $i rc=$rc"; grep -i "finalize\|error" ${TMPDIR:-/tmp}/hangloop.$i.log | head -3; fi
  n=$((n+1))
  echo "$i $rc $(echo "$end - $start" | bc) $(cut -d' ' -f1 /proc/loadavg)" >> ${TMPDIR:-/tmp}/hangloop.times
done
echo "runs $n, hung or failed $hung"

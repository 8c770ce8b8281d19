// Status propagation macros for absl::Status / absl::StatusOr.
//
// Debian's abseil (20220623) ships no status macros, so the project keeps this
// one small header. Every folder may use it; it depends only on abseil.
#ifndef FREEZING_BASE_STATUS_MACROS_H_
#define FREEZING_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// RETURN_IF_ERROR(expr): returns the status of `expr` from the enclosing
// function when it is not OK.
#define RETURN_IF_ERROR(expr)                            \
  do {                                                   \
    const ::absl::Status freezing_status_ = (expr);      \
    if (!freezing_status_.ok()) return freezing_status_; \
  } while (0)

#define FREEZING_STATUS_CONCAT_INNER_(x, y) x##y
#define FREEZING_STATUS_CONCAT_(x, y) FREEZING_STATUS_CONCAT_INNER_(x, y)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on
// error returns its status, otherwise moves the value into `lhs`, which may be
// a declaration (`auto x`) or an existing variable.
#define ASSIGN_OR_RETURN(lhs, expr) \
  FREEZING_ASSIGN_OR_RETURN_IMPL_(  \
      FREEZING_STATUS_CONCAT_(freezing_statusor_, __LINE__), lhs, expr)

#define FREEZING_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()

#endif  // FREEZING_BASE_STATUS_MACROS_H_

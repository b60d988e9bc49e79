package main

import (
	"fmt"
	"runtime/debug"
	"strconv"
)

// memoryLimitShare is the part of the container's memory limit the Go
// runtime aims to stay under: the rest is room for the runtime's own
// overhead and the stacks, so the collector works harder before the kernel
// kills the pod.
const memoryLimitShare = 0.9

// softMemoryLimit says what Go's soft memory limit should be. GOMEMLIMIT,
// when set, is the runtime's own and wins. Otherwise MEMORY_LIMIT, the
// container's limit in bytes (the chart sets it from the Pod's
// resources.limits.memory), gives 90% of it. Neither set: no limit.
func softMemoryLimit(getenv func(string) string) (int64, error) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	raw := getenv("MEMORY_LIMIT")
	if raw == "" {
		return 0, nil
	}
	limit, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || limit <= 0 {
		return 0, fmt.Errorf("MEMORY_LIMIT=%q is not a number of bytes", raw)
	}
	return int64(float64(limit) * memoryLimitShare), nil
}

// applySoftMemoryLimit sets the limit softMemoryLimit computes, if any.
func applySoftMemoryLimit(getenv func(string) string) (int64, error) {
	limit, err := softMemoryLimit(getenv)
	if err != nil || limit == 0 {
		return 0, err
	}
	debug.SetMemoryLimit(limit)
	return limit, nil
}

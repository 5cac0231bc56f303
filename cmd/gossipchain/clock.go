package main

import (
	"fmt"
	"time"
)

// clockOffsetEnv skews the node's clock (the future-timestamp rule and the
// timestamps it mines), for fault-injection tests only: the chaos harness
// (e2e/chaos_test.go) sets it to put a node's clock ahead or behind. It is
// a duration ("90s", "-2m"). It is read from the environment only, not a
// flag, so no operator sets it by accident from the usage text.
const clockOffsetEnv = "GOSSIPCHAIN_CLOCK_OFFSET"

// clockFromEnv returns the clock the node uses: nil (time.Now) without
// the variable.
func clockFromEnv(getenv func(string) string) (func() time.Time, time.Duration, error) {
	v := getenv(clockOffsetEnv)
	if v == "" {
		return nil, 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return nil, 0, usageErrorf("%s=%q: want a duration such as 90s or -2m: %v", clockOffsetEnv, v, err)
	}
	if d == 0 {
		return nil, 0, nil
	}
	return func() time.Time { return time.Now().Add(d) }, d, nil
}

func clockNote(d time.Duration) string {
	return fmt.Sprintf("clock skewed by %v (%s): for tests only", d, clockOffsetEnv)
}

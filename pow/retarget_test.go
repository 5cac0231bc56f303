package pow

import (
	"testing"
	"time"
)

const twoWeeks = 14 * 24 * time.Hour

func secs(s int64) time.Duration { return time.Duration(s) * time.Second }

func TestRetarget(t *testing.T) {
	const limit = 0x1d00ffff
	cases := []struct {
		name   string
		prev   uint32
		actual time.Duration
		want   uint32
	}{
		{"on time keeps bits", 0x1c05a3f4, twoWeeks, 0x1c05a3f4},
		{"on time at limit", limit, twoWeeks, limit},
		{"twice as slow doubles target", 0x1c05a3f4, 2 * twoWeeks, 0x1c0b47e8},
		{"twice as fast halves target", 0x1c0b47e8, twoWeeks / 2, 0x1c05a3f4},
		// Bitcoin Core pow_tests.cpp vectors.
		{"core get_next_work", limit, secs(1262152739 - 1261130161), 0x1d00d86a},
		{"core pow limit", limit, secs(1233061996 - 1231006505), limit},
		{"core lower clamp", 0x1c05a3f4, secs(1279297671 - 1279008237), 0x1c0168fd},
		{"core upper clamp", 0x1c387f6f, secs(1269211443 - 1263163443), 0x1d00e1fd},
		{"clamp at x4", 0x1c05a3f4, 100 * twoWeeks, 0x1c168fd0},
		{"clamp at /4", 0x1c05a3f4, time.Second, 0x1c0168fd},
		{"negative timespan clamps at /4", 0x1c05a3f4, -twoWeeks, 0x1c0168fd},
		{"capped at limit", 0x1d00d86a, 4 * twoWeeks, limit},
		{"invalid prev restarts at limit", 0, twoWeeks, limit},
		{"target never below 1", 0x01010000, 0, 0x01010000},
	}
	for _, c := range cases {
		if got := Retarget(c.prev, c.actual, twoWeeks, limit); got != c.want {
			t.Errorf("%s: Retarget(%#08x, %v) = %#08x, want %#08x", c.name, c.prev, c.actual, got, c.want)
		}
	}
}

func TestRetargetDegenerate(t *testing.T) {
	if got := Retarget(0x1c05a3f4, twoWeeks, 0, 0x1d00ffff); got != 0x1c05a3f4 {
		t.Errorf("zero target timespan: got %#08x, want prev", got)
	}
	// An invalid limit caps at 2^256-1 instead.
	if got := Retarget(0x2100ffff, 4*twoWeeks, twoWeeks, 0); got != BigToCompact(maxTarget()) {
		t.Errorf("invalid limit: got %#08x", got)
	}
	// Huge timespans must not overflow the ×4 clamp.
	if got := Retarget(0x1c05a3f4, 1<<62, 1<<62, 0x1d00ffff); got != 0x1c05a3f4 {
		t.Errorf("huge timespans: got %#08x", got)
	}
}

func TestRetargetRoundTrip(t *testing.T) {
	const limit = 0x207fffff
	for _, prev := range []uint32{0x1c05a3f4, 0x1b0404cb, 0x1f00ffff, 0x03123456} {
		for _, f := range []int64{2, 3, 4} {
			slow := Retarget(prev, time.Duration(f)*twoWeeks, twoWeeks, limit)
			if back := Retarget(slow, twoWeeks/time.Duration(f), twoWeeks, limit); back != prev {
				t.Errorf("prev %#08x ×%d → %#08x → %#08x, want back", prev, f, slow, back)
			}
		}
	}
}

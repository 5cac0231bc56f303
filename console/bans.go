package console

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// cmdBans lists the banned peers, soonest to be let back first.
func cmdBans(_ context.Context, s *session, _ []string) error {
	bans := s.n.Banned()
	if len(bans) == 0 {
		s.printf("no banned peers\n")
		return nil
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s:\n", plural(len(bans), "banned peer"))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, ban := range bans {
		left := time.Until(ban.Until).Round(time.Second)
		fmt.Fprintf(tw, "  %s\tuntil %s (%s)\t%s\n", ban.Peer, ban.Until.Local().Format(time.DateTime), left, ban.Reason)
	}
	tw.Flush()
	s.printf("%s", b.String())
	return nil
}

// cmdUnban lifts one peer's ban, or every ban.
func cmdUnban(_ context.Context, s *session, args []string) error {
	if strings.EqualFold(args[0], "all") {
		ps, err := s.n.UnbanAll()
		if err != nil {
			return fmt.Errorf("unban: %w", err)
		}
		s.printf("unbanned %s\n", plural(len(ps), "peer"))
		return nil
	}
	p, err := peer.Decode(args[0])
	if err != nil {
		return usagef("unban: %q is not a peer ID: %v", args[0], err)
	}
	was, err := s.n.Unban(p)
	if err != nil {
		return fmt.Errorf("unban: %w", err)
	}
	if !was {
		return fmt.Errorf("unban: %s is not banned", p)
	}
	s.printf("unbanned %s\n", p)
	return nil
}

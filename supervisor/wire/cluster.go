package wire

import (
	"sync/atomic"

	"github.com/rockstar-dev/rockstar/worker"
)

// The worker.RateLimitConfig.Placement of a cluster-scoped limit
// (rate_limit.scope = "cluster", config.RateLimit.Worker) is
// "cluster:" and its on_cluster_failure: its bucket's cache line
// (Layout.BucketOff) is a ClusterBucket, not one GCRA time. The policy is
// part of it so that a limit whose policy changes gets a fresh bucket, as
// one whose rate changes does.
const (
	PlacementClusterLocal = "cluster:local"
	PlacementClusterDeny  = "cluster:deny"
)

// IsCluster reports whether a limit of placement p is cluster-scoped.
func IsCluster(p string) bool { return p == PlacementClusterLocal || p == PlacementClusterDeny }

// ClusterDeny reports whether a cluster-scoped limit of placement p
// admits nothing while Redis is away.
func ClusterDeny(p string) bool { return p == PlacementClusterDeny }

// A ClusterBucket is five words of a bucket's line:
//
//	word 0  ClusterTAT       the GCRA theoretical arrival time of the
//	                         machine's share, spent only while Redis is
//	                         away and the limit's policy is "local"
//	word 1  ClusterTokens    tokens the master leased from Redis that the
//	                         workers have not spent yet; a request takes one
//	word 2  ClusterMode      ModeLease, ModeLocal or ModeDeny: what the
//	                         workers spend from
//	word 3  ClusterWanted    requests refused for want of a token, so that
//	                         the master sees demand it could not meet
//	word 4  ClusterMachines  cluster.machines: the share is the limit ÷ this
//
// Only the master adds tokens and sets the mode and the machines (before
// the mode that uses them); workers only take tokens, by compare-and-swap
// and never below 0, and count refusals. A fresh line (all 0) is in
// ModeLease without tokens.
const (
	ClusterTAT = iota
	ClusterTokens
	ClusterMode
	ClusterWanted
	ClusterMachines
	// ClusterWords is how many words of the line a cluster limit uses.
	ClusterWords
)

// What a cluster limit's workers spend from (word ClusterMode).
const (
	// ModeLease: the tokens the master leased (Redis is up).
	ModeLease = 0
	// ModeLocal: the machine's share, a GCRA bucket on word ClusterTAT at
	// the limit ÷ machines (Redis is away; on_cluster_failure = "local").
	ModeLocal = 1
	// ModeDeny: nothing passes (Redis is away; on_cluster_failure =
	// "deny").
	ModeDeny = 2
)

// ClusterBucket is the words of a cluster limit's bucket line.
type ClusterBucket struct {
	TAT, Tokens, Mode, Wanted, Machines *atomic.Int64
}

// ClusterBucketAt returns the words of the cluster limit in bucket i of
// layout l, reached through word (shm.Region.Int64).
func ClusterBucketAt(word func(off int) *atomic.Int64, l *Layout, i int) ClusterBucket {
	off := l.BucketOff(i)
	return ClusterBucket{
		TAT:      word(off + 8*ClusterTAT),
		Tokens:   word(off + 8*ClusterTokens),
		Mode:     word(off + 8*ClusterMode),
		Wanted:   word(off + 8*ClusterWanted),
		Machines: word(off + 8*ClusterMachines),
	}
}

// ClusterShare is the limit one of machines keeps on its own while Redis
// is away: the rate and the burst ÷ machines (a burst of at least 1).
func ClusterShare(l worker.RateLimitConfig, machines int) worker.RateLimitConfig {
	n := max(machines, 1)
	l.RequestsPerSecond /= float64(n)
	l.BurstSize = max(l.BurstSize/n, 1)
	l.Placement = ""
	return l
}

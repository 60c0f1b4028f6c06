package filter

// ProfileCache remembers the profile a policy chose for the caller of one
// connection, so that the connection's later requests are decided without
// walking the client entries. Its zero value is empty; a reloaded policy
// is another policy, and misses.
type ProfileCache struct {
	policy  *Policy
	profile *Profile
	rule    string
}

// profileFor is the policy's ProfileFor through the cache; a nil cache
// asks the policy every time.
func (c *ProfileCache) profileFor(p *Policy, peer Peer) (*Profile, string) {
	if c == nil {
		return p.ProfileFor(peer)
	}
	if c.policy != p {
		c.profile, c.rule = p.ProfileFor(peer)
		c.policy = p
	}
	return c.profile, c.rule
}

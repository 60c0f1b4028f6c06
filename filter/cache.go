package filter

// ProfileCache remembers the profile a policy chose for the caller of one
// connection, so that the connection's later requests are decided without
// walking the client entries. Its zero value is empty; a reloaded policy
// is another policy, and a caller whose container changed (renamed,
// replaced, no longer verified) is another caller: both miss.
type ProfileCache struct {
	policy  *Policy
	who     cachedCaller
	profile *Profile
	rule    string
	client  *Client
}

// cachedCaller is what of a connection's caller may change between its
// requests: where it runs.
type cachedCaller struct {
	contained bool
	id, name  string
}

func cacheKey(c *Caller) cachedCaller {
	k := cachedCaller{contained: c.Contained}
	if c.Container != nil {
		k.id, k.name = c.Container.ID, c.Container.Name
	}
	return k
}

// match is the policy's match through the cache; a nil cache asks the
// policy every time.
func (c *ProfileCache) match(p *Policy, caller Caller) (*Profile, string, *Client) {
	if c == nil {
		return p.match(caller)
	}
	if who := cacheKey(&caller); c.policy != p || c.who != who {
		c.profile, c.rule, c.client = p.match(caller)
		c.policy, c.who = p, who
	}
	return c.profile, c.rule, c.client
}

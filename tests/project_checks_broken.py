raise RuntimeError("search client misconfigured (token planted-broken-token-5555)")

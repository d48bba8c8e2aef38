"""Scale-out over Redis: the broker (`broker.py`, its wire formats in `codec.py`, its Lua in
`scripts.py`), presence, the notification store, the shared rate limit, how Redis is opened
(`client.py`), and every key they use (`keys.py`). Chosen by URL in `backends.py`."""

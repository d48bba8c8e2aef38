"""Every Redis key and pub/sub channel of the runtime, under one namespace (`azu:`): what a
Redis holds for an app is read here (docs/ARCHITECTURE.md, Keys)."""

NAMESPACE = "azu:"
PREFIX = NAMESPACE.encode()

# The broker. A topic's pub/sub channel is PREFIX + its name.
# Subscribed from the start and never published to, so that the reader always
# has a subscription to read (the hub's orders travel on a topic of their own).
IDLE_CHANNEL = PREFIX + b"control"

# Presence: members by topic, and each process's heartbeat and sockets.
PRESENCE_NODES = NAMESPACE + "presence:nodes"
PRESENCE_TOPIC = NAMESPACE + "presence:topic:"
PRESENCE_NODE = NAMESPACE + "presence:node:"

# Notifications: a sorted set per user.
NOTIFICATIONS = NAMESPACE + "notifications:"
# The id counter, where earlier runtimes put it too: among the users' sets. It
# stays, since an older worker may share Redis with this one during a rolling
# deploy, and must number after the same counter.
NOTIFICATIONS_COUNTER = NOTIFICATIONS + "next-id"
# Where the set of a user whose id would name the counter lives instead: no other
# user's key begins so, since all begin with NOTIFICATIONS. New keys of the store's
# own go outside NOTIFICATIONS, where no user id reaches.
RENAMED_NOTIFICATIONS = NAMESPACE + "notifications-of:"


def topic_channel(topic: str) -> bytes:
    """The pub/sub channel of `topic`."""
    return PREFIX + topic.encode()


def history_keys(topic: str) -> list[bytes]:
    """The topic's meta hash (epoch, offset, format) and its stream of kept messages."""
    name = topic.encode()
    return [PREFIX + b"history-meta:" + name, PREFIX + b"history:" + name]


def record_key(publish_id: str) -> bytes:
    """Where a recorded publish's position is kept a while, so that it is never numbered twice."""
    return PREFIX + b"record:" + publish_id.encode()


def limit_key(key: str) -> bytes:
    """The token bucket of a shared rate limit's `key` (a user)."""
    return PREFIX + b"limit:" + key.encode()


def notifications_key(user_id: str) -> str:
    """The key of `user_id`'s sorted set: never the counter's, whatever the id."""
    key = NOTIFICATIONS + user_id
    return RENAMED_NOTIFICATIONS + user_id if key == NOTIFICATIONS_COUNTER else key

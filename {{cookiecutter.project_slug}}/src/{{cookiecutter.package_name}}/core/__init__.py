"""The channel machinery: connections, the hub that fans out, brokers, and the runner."""

"""System care for the admin: the messages a service could not handle (dead letters), and retrying them."""

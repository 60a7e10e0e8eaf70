"""Mail in: a front door like the web app and the bots, for mail rather than requests. Mailbox
providers send bounces and complaints to our return paths; the listener reads them and hands what
they say to a service."""

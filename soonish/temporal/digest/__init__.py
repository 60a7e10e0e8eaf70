"""Community digests: the daily `soonish-digest` run that mails each digest follower on its community's day."""

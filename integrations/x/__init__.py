"""X (Twitter): mentions of our accounts polled in, replies and likes sent out, through tweepy."""

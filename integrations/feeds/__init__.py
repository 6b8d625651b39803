"""RSS/Atom feeds (blogs, forums, news comments) as a read-only, polled source of mentions."""

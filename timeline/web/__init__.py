"""What people look at: pages and the files they load, all served by the app itself, so
they work offline and behind firewalls (no CDN)."""

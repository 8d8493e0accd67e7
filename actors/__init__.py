"""Ray actors of the hub: registry shards and job monitors. Plain classes, made actors at the edge."""

"""Where recordings come from: input patterns, sidecar JSON, each call's identity, and caller-id pseudonyms."""

"""Dashboards over the warehouse views: LookML for Looker (``looker/``), its deploy step, and a local HTML twin."""

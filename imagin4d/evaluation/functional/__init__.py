"""Pure metric math on numpy / torch arrays (no mmengine): motion, contact, waypoint, image adherence, distribution."""

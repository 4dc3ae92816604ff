"""HTTP routes: each module adapts one part of the contract to kgspatial and the store."""

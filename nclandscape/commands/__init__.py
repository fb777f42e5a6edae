"""Sub-commands of the ``nclandscape`` CLI (one module each, discovered automatically)."""

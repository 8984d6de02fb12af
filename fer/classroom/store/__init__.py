"""The one shared state: :mod:`.base` (the contract), :mod:`.sqlite` and :mod:`.redis` (the
backends), :mod:`.buffer` (a write-behind buffer for a network store), :mod:`.factory` (picks one)."""

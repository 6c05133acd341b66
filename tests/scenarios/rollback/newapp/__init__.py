"""An app that release 3 of the rollback scenarios adds: it did not exist in the releases before."""

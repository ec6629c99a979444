"""The ledger's records, one module per record: each adds its methods to the `Ledger` facade
(gripctl.ledger.store) on top of the connection plumbing in gripctl.ledger.db."""

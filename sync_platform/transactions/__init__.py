"""Financial transactions from billing to the ERP: invoices, payments, credit notes."""

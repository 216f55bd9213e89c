-- Sample data for the CRM: three customers (two on the portal, one not yet set up), bills in AED, JPY and KWD.
INSERT INTO firm VALUES (1, 'Acme Field Services', 'office@acme.example', '+971 4 000 0000', '1 Harbour Road',
                         'Dubai', 'https://acme.example', '#0B6E4F');

INSERT INTO customers VALUES
    (1, 'GLOBEX', 'Globex LLC', 1, 'globex-portal-key-0123456789abcdef', '2024-03-01'),
    (2, 'INITECH', 'Initech', 0, 'initech-portal-key-0123456789abcdef', '2024-05-12'),
    (3, 'UMBRELLA', 'Umbrella Corp', 0, NULL, '2025-01-20');

INSERT INTO people VALUES
    (10, 1, 'Homer Simpson', 'homer@globex.example', 0),
    (11, 1, 'Marge Simpson', '  Marge@Globex.Example ', 0),
    (12, 1, 'Front desk', 'n/a', 0),
    (13, 1, 'Old Contact', NULL, 0),
    (14, 1, 'Frank Grimes', 'frank@globex.example', 1),
    (20, 2, 'Bill Lumbergh', 'bill@initech.example', 0),
    (21, 2, 'Homer at Initech', 'homer@globex.example', 0);

INSERT INTO work_orders VALUES
    (501, 1, 'WO-501', 'Replace AC unit', 'WIP', '2026-11-20', '2026-12-05'),
    (502, 1, 'WO-502', 'Quarterly service', 'NEW', NULL, NULL),
    (503, 1, 'WO-503', 'Duct cleaning', 'DONE', '2026-09-01', '2026-09-02'),
    (601, 2, 'WO-601', 'Server room cooling', 'HOLD', '2026-12-10', NULL);

INSERT INTO bills VALUES
    (1001, 1, 'B-1001', 1, 'AED', '2026-10-01', '2026-10-31', '360.000', '18.000', '0', 501),
    (1002, 1, 'B-1002', 2, 'KWD', '2026-11-01', '2026-12-15', '12.345', '0.617', '5.000', NULL),
    (1003, 1, 'B-1003', 3, 'JPY', '2026-09-15', '2026-10-15', '50000', '0', '50000', 503),
    (1004, 1, 'B-1004', 0, 'AED', NULL, NULL, '99.990', '0', '0', NULL),
    (1005, 1, 'B-1005', 9, 'AED', '2026-08-01', '2026-08-31', '10.000', '0', '0', NULL),
    (2001, 2, 'B-2001', 1, 'USD', '2026-11-20', '2026-12-20', '1250.500', '0', '0', 601);

INSERT INTO bill_items VALUES
    (1, 1001, 'Labour', '3', '100.000'),
    (2, 1001, 'Refrigerant', '1.5', '40.000');

INSERT INTO estimates VALUES
    (301, 1, 'E-301', 1, 'AED', '2026-11-01', '2026-12-31', '900.000'),
    (302, 1, 'E-302', 0, 'AED', NULL, NULL, '50.000'),
    (303, 1, 'E-303', 2, 'KWD', '2026-10-10', '2026-11-10', '1.005'),
    (401, 2, 'E-401', 1, 'USD', '2026-11-25', '2026-12-25', '300.000');

INSERT INTO price_list VALUES
    ('SVC-AC', 'AC maintenance', 'Per visit', '150.000', 'AED', 1),
    ('SVC-DUCT', 'Duct cleaning', NULL, '75.500', 'AED', 1),
    ('OLD-1', 'Discontinued', NULL, '1.000', 'AED', 0);

INSERT INTO attachments VALUES
    (1, 1, 501, NULL, 'survey.pdf', 'application/pdf', '2026-11-21T10:00:00', X'255044462D312E340A'),
    (2, 1, NULL, 1001, 'B-1001 signed.pdf', 'application/pdf', '2026-10-02T08:30:00', X'255044462D312E350A'),
    (3, 2, 601, NULL, 'rack plan.txt', 'text/plain', '2026-12-01T09:00:00', X'5261636B20706C616E0A');

INSERT INTO clients VALUES (1, 'Globex LLC', 1), (2, 'Initech', 1), (3, 'Umbrella Corp', 0);
INSERT INTO client_people VALUES
    (10, 1, 'Homer Simpson', 'Homer@Globex.example'), (11, 1, 'Marge Simpson', 'marge@globex.example'),
    (20, 2, 'Peter Gibbons', 'peter@initech.example'), (21, 2, 'Homer at Initech', 'homer@globex.example'),
    (30, 3, 'Alice', 'alice@umbrella.example');
INSERT INTO projects_crm VALUES (100, 1, 'Plant upgrade'), (200, 2, 'Office move');
INSERT INTO work_orders VALUES
    (500, 1, 'WO-500', 'Replace AC unit', 'open', '2026-11-20', 100),
    (501, 1, 'WO-501', 'Quarterly service', 'open', NULL, NULL),
    (600, 2, 'WO-600', 'Move the server room', 'done', '2026-10-01', 200);
INSERT INTO invoices_crm VALUES
    (1000, 1, 'INV-1000', 'sent', 'AED', 36000, 0, '2026-10-01', '2026-10-31'),
    (1001, 1, 'INV-1001', 'part', 'KWD', 12345, 5000, '2026-11-01', '2026-12-15'),
    (1002, 1, 'INV-1002', 'draft', 'AED', 9999, 0, NULL, NULL),
    (1003, 1, 'INV-1003', 'paid', 'JPY', 50000, 50000, '2026-09-15', '2026-10-15'),
    (2000, 2, 'INV-2000', 'sent', 'USD', 125050, 0, '2026-11-20', '2026-12-20');

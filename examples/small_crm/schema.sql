-- A small CRM's own schema, as its developer wrote it long before the portal: no column for a portal link token.
CREATE TABLE clients (id INTEGER PRIMARY KEY, title TEXT NOT NULL, portal INTEGER NOT NULL DEFAULT 0);
CREATE TABLE client_people (id INTEGER PRIMARY KEY, client_id INTEGER NOT NULL REFERENCES clients(id),
                            full_name TEXT NOT NULL, mail TEXT);
CREATE TABLE projects_crm (id INTEGER PRIMARY KEY, client_id INTEGER NOT NULL REFERENCES clients(id),
                           name TEXT NOT NULL);
CREATE TABLE work_orders (id INTEGER PRIMARY KEY, client_id INTEGER NOT NULL REFERENCES clients(id),
                          wo_no TEXT NOT NULL, title TEXT NOT NULL, stage TEXT NOT NULL, starts TEXT,
                          project_id INTEGER REFERENCES projects_crm(id));
CREATE TABLE invoices_crm (id INTEGER PRIMARY KEY, client_id INTEGER NOT NULL REFERENCES clients(id),
                           inv_no TEXT NOT NULL, state TEXT NOT NULL, currency TEXT NOT NULL,
                           total_cents INTEGER NOT NULL, paid_cents INTEGER NOT NULL DEFAULT 0,
                           issued TEXT, due TEXT);

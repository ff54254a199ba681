-- Guest accounts (client-server API, "Guest Access"): registered with kind=guest, limited to the endpoints
-- the spec lists, upgraded in place to a full account (is_guest turns false) by /register.
ALTER TABLE users ADD COLUMN is_guest boolean NOT NULL DEFAULT false;

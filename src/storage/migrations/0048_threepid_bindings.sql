-- Third-party identifiers a user bound to their Matrix ID on an identity server through this server
-- (POST /account/3pid/bind), so that removing the 3PID, unbinding it without naming the identity server, and
-- deactivating the account unbind it there too (client-server API, "Adding Account Administrative Contact
-- Information"; identity service API, /3pid/unbind).
CREATE TABLE threepid_bindings (
  user_id text NOT NULL,
  medium text NOT NULL,
  address text NOT NULL,
  id_server text NOT NULL,
  PRIMARY KEY (user_id, medium, address, id_server)
);

DROP TABLE access_changes;
DROP TABLE access_clock;
DROP TABLE role_bindings;
DROP TABLE roles;

DROP TABLE scim_tokens;
DROP TABLE directories;
DROP TABLE tenants;

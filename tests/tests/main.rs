//! kyso's end-to-end tests, one binary: the real gateway, agent, simulator and OpenSSL
//! responders started as processes over the generated PKI and SoftHSM tokens.

mod agent;
mod demo;
mod edge;
mod load;
mod lockout;
mod logs;
mod postgres;
mod registration;
mod revocation;
mod sim;
mod sqlite;
mod tokens;

//! The HTTP endpoints, one file per group.

pub mod agent;
pub mod agent_activate;
pub mod agent_batch;
pub mod agent_notifications;
pub mod agent_profiles;
pub mod datafiles;
pub mod events;
pub mod health;
pub mod ofrep;
pub mod projects;
pub mod query;
pub mod results;

//! Coterie: a community platform for brands in one binary.

pub mod accounts;
pub mod app;
pub mod blog;
pub mod cache;
pub mod comments;
pub mod config;
pub mod content;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod forums;
pub mod jobs;
pub mod mail;
pub mod markdown;
pub mod pagecache;
pub mod media;
pub mod metrics;
pub mod migrate_data;
pub mod photos;
pub mod profiles;
pub mod sitemap;
pub mod tags;
pub mod views;
pub mod votes;
pub mod web;
pub mod xml;

/**
 * The report of {@code atelier demo}: {@link dev.atelier.engine.report.DemoReport} holds what the
 * run found (wardrobe, generated images per variant with their best wardrobe match and catalog
 * neighbours, the similarity figure of each variant, training loss, timings) and
 * {@link dev.atelier.engine.report.ReportWriter} writes it as one self-contained HTML file that
 * needs no network.
 */
package dev.atelier.engine.report;

package dev.atelier.engine.synth;

import dev.atelier.engine.synth.Silhouette.P;
import dev.atelier.engine.synth.Silhouette.Role;
import java.awt.Shape;
import java.util.SplittableRandom;

/**
 * The outline of each garment type in garment units (y down, about -1..1), with small seeded
 * variations of widths and lengths so that no two garments are the same shape. Proportions are
 * those of flat-lay product photos: tops with the sleeves spread, trousers and skirts hanging.
 */
final class Silhouettes {
    private Silhouettes() {}

    static Silhouette of(GarmentType type, SplittableRandom r) {
        return switch (type) {
            case JACKET -> tailored(r, false);
            case COAT -> tailored(r, true);
            case SHIRT -> shirt(r);
            case TSHIRT -> tshirt(r);
            case HOODIE -> hoodie(r);
            case DRESS -> dress(r);
            case SKIRT -> skirt(r);
            case TROUSERS -> trousers(r);
            case SHORTS -> shorts(r);
        };
    }

    private static double v(SplittableRandom r, double lo, double hi) {
        return lo + (hi - lo) * r.nextDouble();
    }

    /** Torso from the neck to the hem; the sleeves are separate parts drawn behind it. */
    private static Shape torso(double nw, double ny, double sw, double sy, double ay, double hw, double hem, double hemDrop) {
        double midY = (ay + hem) / 2;
        return P.at(-nw, ny).to(-sw, sy).q(-sw - 0.01, (sy + ay) / 2, -sw + 0.015, ay)
                .q(-hw - 0.015, midY, -hw, hem).q(0, hem + hemDrop, hw, hem)
                .q(hw + 0.015, midY, sw - 0.015, ay).q(sw + 0.01, (sy + ay) / 2, sw, sy)
                .to(nw, ny).q(0, ny - 0.03, -nw, ny).closed();
    }

    /**
     * The right sleeve from the armhole (shoulder point sw,sy to armpit ay) to a cuff centred at
     * (ex, ey) with half-width cw; adds it and its mirror, a cuff band of length `cuff` (0: none)
     * and an elbow fold.
     */
    private static void sleeves(Silhouette s, double sw, double sy, double ay, double ex, double ey, double cw, double cuff) {
        double ax = sw - 0.02, dx = sw - 0.035;
        double mx = (ax + dx) / 2, my = (sy + ay) / 2;
        double len = Math.hypot(ex - mx, ey - my);
        double ux = (ex - mx) / len, uy = (ey - my) / len;
        double ox = uy, oy = -ux; // outward normal (up and out for a sleeve going down and out)
        double bx = ex + cw * ox, by = ey + cw * oy, cx = ex - cw * ox, cy = ey - cw * oy;
        Shape sleeve = P.at(ax, sy).q((ax + bx) / 2 + 0.03 * ox, (sy + by) / 2 + 0.03 * oy, bx, by)
                .to(cx, cy).q((cx + dx) / 2 - 0.015 * ox, (cy + ay) / 2 - 0.015 * oy, dx, ay).closed();
        s.pair(sleeve, Role.SLEEVE);
        if (cuff > 0) {
            s.pair(P.at(bx - cuff * ux, by - cuff * uy).to(bx, by).to(cx, cy).to(cx - cuff * ux, cy - cuff * uy).closed(), Role.TRIM);
        }
        double fx = mx + 0.55 * len * ux, fy = my + 0.55 * len * uy, w = 0.6 * cw + 0.04;
        s.folds(P.at(fx + w * ox, fy + w * oy).q(fx + 0.04 * ux, fy + 0.04 * uy, fx - w * ox, fy - w * oy).open());
    }

    /** The collar band seen behind the neck. */
    private static Shape collarBack(double nw, double ny, double extra) {
        return P.at(-nw - extra, ny + 0.02).q(0, ny - 0.12, nw + extra, ny + 0.02).q(0, ny - 0.03, -nw - extra, ny + 0.02).closed();
    }

    /** Jacket (blazer: notch lapels, two buttons, flap pockets) or coat (long, double-breasted, belted). */
    private static Silhouette tailored(SplittableRandom r, boolean coat) {
        Silhouette s = new Silhouette();
        double sw = v(r, 0.40, 0.45), ny = -0.80, nw = 0.13, sy = ny + 0.08, ay = -0.30;
        double hem = coat ? v(r, 0.90, 0.97) : v(r, 0.50, 0.58);
        double hw = sw + (coat ? v(r, 0.06, 0.11) : v(r, 0.0, 0.03));
        double vy = coat ? -0.36 : v(r, -0.20, -0.12);
        sleeves(s, sw, sy, ay, sw + v(r, 0.30, 0.36), coat ? hem - 0.38 : hem - 0.08, coat ? 0.10 : 0.09, coat ? 0.0 : 0.0);
        Shape body = torso(nw, ny, sw, sy, ay, hw, hem, 0.03);
        s.part(body, Role.BODY);
        s.part(P.at(-nw, ny).to(nw, ny).to(0, vy).closed(), Role.INSIDE);
        s.part(collarBack(nw, ny, coat ? 0.07 : 0.05), Role.FACING);
        double tip = coat ? 0.34 : 0.27;
        s.pair(P.at(-nw - 0.005, ny - 0.01).to(-tip, ny + 0.19).to(-tip + 0.065, ny + 0.225)
                .to(-tip + 0.025, ny + 0.30).q(-0.17, vy - 0.10, -0.005, vy).closed(), Role.FACING);
        s.block = Silhouette.rect(-2, coat ? 0.35 : 0.15, 2, 2);
        s.folds(P.at(-sw + 0.06, ay + 0.08).q(-sw + 0.10, (ay + hem) / 2, -sw + 0.08, hem - 0.12).open());
        if (coat) {
            s.part(Silhouette.clipTo(Silhouette.rect(-2, 0.0, 2, 0.09), body), Role.TRIM);
            s.seam(P.at(0.14, vy + 0.02).to(0.14, 0.0).open()).seam(P.at(0.14, 0.09).to(0.14, hem + 0.01).open());
            s.seam(P.at(-0.05, 0.005).to(0.05, 0.005).to(0.05, 0.085).to(-0.05, 0.085).closed());
            for (double y : new double[] {vy + 0.13, vy + 0.27, 0.22}) {
                s.button(-0.10, y, 0.032).button(0.10, y, 0.032);
            }
            s.pair(P.at(-0.38, 0.36).to(-0.22, 0.31).to(-0.215, 0.355).to(-0.375, 0.405).closed(), Role.FACING);
        } else {
            s.seam(P.at(0, vy).to(0, hem + 0.025).open());
            s.button(0, vy + 0.14, 0.034).button(0, vy + 0.34, 0.034);
            s.pair(Silhouette.rect(-0.35, 0.17, -0.13, 0.235), Role.FACING);
            s.part(Silhouette.rect(0.16, -0.41, 0.32, -0.375), Role.FACING);
        }
        return s;
    }

    /** Long-sleeved shirt: pointed collar, button placket, cuffs, chest pocket, curved hem. */
    private static Silhouette shirt(SplittableRandom r) {
        Silhouette s = new Silhouette();
        double sw = v(r, 0.38, 0.42), ny = -0.82, nw = 0.10, sy = ny + 0.07, ay = -0.36;
        double hem = v(r, 0.58, 0.66), hw = sw + v(r, -0.01, 0.02), drop = 0.12;
        sleeves(s, sw, sy, ay, sw + v(r, 0.30, 0.36), hem - 0.20, 0.075, 0.12);
        s.part(torso(nw, ny, sw, sy, ay, hw, hem, drop), Role.BODY);
        s.part(collarBack(nw, ny, 0.05), Role.FACING);
        s.pair(P.at(-0.005, ny + 0.09).to(-nw - 0.045, ny - 0.03).q(-nw - 0.07, ny + 0.10, -0.16, ny + 0.21).closed(), Role.FACING);
        s.part(P.at(0.12, -0.50).to(0.29, -0.50).to(0.29, -0.33).to(0.205, -0.29).to(0.12, -0.33).closed(), Role.FACING);
        s.seams(P.at(-0.035, ny + 0.10).to(-0.035, hem + drop / 2 + 0.005).open());
        for (double y = ny + 0.20; y < hem; y += 0.21) {
            s.button(0, y, 0.022);
        }
        s.block = Silhouette.rect(-2, 0.15, 2, 2);
        s.folds(P.at(-sw + 0.07, ay + 0.12).q(-sw + 0.11, 0.1, -sw + 0.08, hem - 0.05).open());
        return s;
    }

    /** T-shirt: short sleeves with hem bands, crew-neck ribbing, straight hem. */
    private static Silhouette tshirt(SplittableRandom r) {
        Silhouette s = new Silhouette();
        double sw = v(r, 0.41, 0.45), ny = -0.80, nw = 0.15, sy = ny + 0.08, ay = -0.42;
        double hem = v(r, 0.56, 0.64), hw = sw - v(r, 0.0, 0.03);
        sleeves(s, sw, sy, ay, sw + v(r, 0.20, 0.25), -0.30 + v(r, -0.03, 0.03), 0.13, 0.05);
        s.part(torso(nw, ny, sw, sy, ay, hw, hem, 0.02), Role.BODY);
        double d = v(r, 0.18, 0.24);
        s.part(P.at(-nw, ny).q(0, ny - 0.04, nw, ny).q(0, ny + d, -nw, ny).closed(), Role.INSIDE);
        s.part(P.at(-nw, ny).q(0, ny + d, nw, ny).to(nw + 0.045, ny + 0.012).q(0, ny + d + 0.08, -nw - 0.045, ny + 0.012).closed(), Role.TRIM);
        s.seam(P.at(-hw + 0.01, hem - 0.05).q(0, hem - 0.04, hw - 0.01, hem - 0.05).open());
        s.block = Silhouette.rect(-2, 0.12, 2, 2);
        s.folds(P.at(-0.15, -0.20).q(-0.05, 0.05, -0.18, 0.40).open());
        return s;
    }

    /** Hoodie: hood with its opening, drawstrings, kangaroo pocket, ribbed cuffs and hem. */
    private static Silhouette hoodie(SplittableRandom r) {
        Silhouette s = new Silhouette();
        double sw = v(r, 0.44, 0.48), ny = -0.76, nw = 0.16, sy = ny + 0.07, ay = -0.32;
        double hem = v(r, 0.58, 0.66), hw = sw - 0.03;
        sleeves(s, sw, sy, ay, sw + v(r, 0.28, 0.33), hem - 0.16, 0.085, 0.11);
        Shape body = torso(nw, ny, sw, sy, ay, hw, hem, 0.02);
        s.part(body, Role.BODY);
        s.part(Silhouette.clipTo(Silhouette.rect(-2, hem - 0.10, 2, 2), body), Role.TRIM);
        s.part(P.at(-0.21, 0.04).to(0.21, 0.04).q(0.24, 0.20, 0.31, hem - 0.16).to(-0.31, hem - 0.16).q(-0.24, 0.20, -0.21, 0.04).closed(), Role.FACING);
        s.seams(P.at(-0.23, 0.12).q(-0.25, 0.28, -0.29, 0.40).open());
        double top = v(r, -1.04, -0.98);
        s.part(P.at(-0.31, -0.66).c(-0.40, top, 0.40, top, 0.31, -0.66).q(0, -0.46, -0.31, -0.66).closed(), Role.FACING);
        s.part(P.at(-0.19, -0.68).c(-0.25, top + 0.12, 0.25, top + 0.12, 0.19, -0.68).q(0, -0.54, -0.19, -0.68).closed(), Role.INSIDE);
        double len = v(r, 0.22, 0.30);
        s.detail(new Silhouette.Cord(P.at(-0.08, -0.58).q(-0.09, -0.45, -0.10, -0.58 + len).open()));
        s.detail(new Silhouette.Cord(P.at(0.08, -0.58).q(0.08, -0.45, 0.11, -0.58 + len).open()));
        s.block = null; // colorblock: sleeves, hood, pocket and ribbing in the secondary, the body plain
        s.folds(P.at(-sw + 0.08, ay + 0.10).q(-sw + 0.12, 0.0, -sw + 0.10, hem - 0.14).open());
        return s;
    }

    /** Sleeveless dress: scoop neck, fitted bodice, waist band, flared skirt. */
    private static Silhouette dress(SplittableRandom r) {
        Silhouette s = new Silhouette();
        double nw = v(r, 0.10, 0.13), hemW = v(r, 0.56, 0.68), hemY = v(r, 0.88, 0.96), waist = v(r, -0.28, -0.20);
        double ww = v(r, 0.19, 0.22);
        Shape body = P.at(-nw, -0.92).to(-0.25, -0.90).q(-0.17, -0.70, -0.27, -0.57).q(-ww - 0.02, -0.40, -ww, waist)
                .q(-0.40, 0.30, -hemW, hemY).q(0, hemY + 0.07, hemW, hemY).q(0.40, 0.30, ww, waist)
                .q(ww + 0.02, -0.40, 0.27, -0.57).q(0.17, -0.70, 0.25, -0.90).to(nw, -0.92).q(0, -0.95, -nw, -0.92).closed();
        s.part(body, Role.BODY);
        s.part(P.at(-nw, -0.92).q(0, -0.95, nw, -0.92).q(0, v(r, -0.66, -0.58), -nw, -0.92).closed(), Role.INSIDE);
        s.part(Silhouette.clipTo(Silhouette.rect(-2, waist - 0.035, 2, waist + 0.045), body), Role.TRIM);
        s.block = Silhouette.rect(-2, waist + 0.04, 2, 2);
        s.fold(P.at(-0.10, waist + 0.10).q(-0.20, 0.40, -0.34, hemY - 0.02).open());
        s.fold(P.at(0.04, waist + 0.10).q(0.06, 0.40, 0.10, hemY + 0.02).open());
        s.fold(P.at(0.14, waist + 0.10).q(0.28, 0.40, 0.40, hemY - 0.03).open());
        return s;
    }

    /** A-line skirt with waistband, button and pleats. */
    private static Silhouette skirt(SplittableRandom r) {
        Silhouette s = new Silhouette();
        double ww = v(r, 0.35, 0.39), hemW = v(r, 0.62, 0.72), hemY = v(r, 0.66, 0.76);
        s.part(P.at(-ww, -0.64).q(-(ww + hemW) / 2 - 0.03, (hemY - 0.64) / 2, -hemW, hemY).q(0, hemY + 0.07, hemW, hemY)
                .q((ww + hemW) / 2 + 0.03, (hemY - 0.64) / 2, ww, -0.64).closed(), Role.BODY);
        s.part(P.at(-ww, -0.75).q(0, -0.77, ww, -0.75).to(ww + 0.005, -0.63).q(0, -0.65, -ww - 0.005, -0.63).closed(), Role.TRIM);
        s.button(ww - 0.09, -0.69, 0.026);
        for (double f : new double[] {-0.5, 0.0, 0.5}) {
            s.fold(P.at(f * ww, -0.58).q(f * (ww + hemW) / 2, 0.0, f * hemW, hemY + 0.02).open());
        }
        s.block = Silhouette.rect(-2, 0.28, 2, 2);
        return s;
    }

    /** Trousers: waistband with loops, fly, slant pockets, creased legs. */
    private static Silhouette trousers(SplittableRandom r) {
        Silhouette s = new Silhouette();
        double ww = v(r, 0.36, 0.40), leg = v(r, 0.34, 0.42), inner = v(r, 0.04, 0.08), crotch = v(r, -0.34, -0.26);
        s.part(P.at(-ww, -0.88).q(-ww - 0.05, -0.60, -ww - 0.04, -0.36).to(-leg, 0.98).to(-inner, 0.98)
                .to(-0.015, crotch).q(0, crotch - 0.04, 0.015, crotch).to(inner, 0.98).to(leg, 0.98)
                .to(ww + 0.04, -0.36).q(ww + 0.05, -0.60, ww, -0.88).closed(), Role.BODY);
        s.part(P.at(-ww, -0.99).to(ww, -0.99).to(ww, -0.88).to(-ww, -0.88).closed(), Role.TRIM);
        s.seam(P.at(0.065, -0.88).to(0.065, -0.50).q(0.065, -0.42, 0, -0.40).open());
        s.seams(P.at(-ww + 0.14, -0.88).q(-ww + 0.10, -0.70, -ww - 0.04, -0.62).open());
        for (double x : new double[] {-0.28, -0.10, 0.10, 0.28}) {
            s.seam(Silhouette.rect(x * ww / 0.38 - 0.012, -1.0, x * ww / 0.38 + 0.012, -0.86));
        }
        s.button(0, -0.935, 0.022);
        s.folds(P.at(-(leg + inner) / 2 - 0.03, -0.55).to(-(leg + inner) / 2, 0.96).open());
        s.block = Silhouette.rect(-2, 0.38, 2, 2);
        return s;
    }

    /** Shorts: waistband, fly, pockets, turned-up hems. */
    private static Silhouette shorts(SplittableRandom r) {
        Silhouette s = new Silhouette();
        double ww = v(r, 0.40, 0.44), leg = v(r, 0.50, 0.56), hem = v(r, 0.34, 0.42), inner = v(r, 0.05, 0.09);
        s.part(P.at(-ww, -0.46).q(-ww - 0.05, -0.30, -ww - 0.06, -0.18).to(-leg, hem).to(-inner, hem + 0.06)
                .to(-0.015, 0.02).q(0, -0.02, 0.015, 0.02).to(inner, hem + 0.06).to(leg, hem)
                .to(ww + 0.06, -0.18).q(ww + 0.05, -0.30, ww, -0.46).closed(), Role.BODY);
        s.part(P.at(-ww, -0.57).to(ww, -0.57).to(ww, -0.46).to(-ww, -0.46).closed(), Role.TRIM);
        s.pair(P.at(-leg, hem).to(-inner, hem + 0.06).to(-inner - 0.005, hem - 0.05).to(-leg + 0.01, hem - 0.11).closed(), Role.TRIM);
        s.seam(P.at(0.065, -0.46).to(0.065, -0.14).q(0.065, -0.07, 0, -0.06).open());
        s.seams(P.at(-ww + 0.14, -0.46).q(-ww + 0.10, -0.30, -ww - 0.05, -0.24).open());
        s.button(0, -0.515, 0.024);
        s.block = Silhouette.rect(-2, 0.02, 2, 2);
        return s;
    }
}

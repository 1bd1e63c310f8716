"""The shop's settings for orders (/purchases/settings): the tax rate, the
bank-transfer details, and the shipping methods with their prices. Every
change is recorded in the audit trail in its own transaction."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for

from app.audit import events as audit
from app.auth import admin_required
from app.database import begin_write
from app.extensions import db
from app.limits import SHIPPING_METHODS_MAX
from app.models import ShippingMethod
from app.orders.pricing import format_rate, shop_settings
from app.purchases import bp
from app.purchases.forms import ShippingMethodForm, ShopSettingsForm


@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def settings():
    """The settings page; its three forms post here, told apart by `form`."""
    shop = shop_settings()
    methods = db.session.scalars(
        sa.select(ShippingMethod).order_by(ShippingMethod.position, ShippingMethod.id)
    ).all()
    shop_form = ShopSettingsForm(
        prefix="shop",
        tax_rate=shop.tax_rate_bp,
        bank_transfer_details=shop.bank_transfer_details,
    )
    new_form = ShippingMethodForm(prefix="new")
    edit_forms = {
        m.id: ShippingMethodForm(
            prefix=f"method-{m.id}",
            obj=m,
            price=m.price_cents,
            free_over=m.free_over_cents,
            formdata=request.form
            if request.form.get("form") == f"method-{m.id}"
            else None,
        )
        for m in methods
    }
    which = request.form.get("form")
    status = 200
    if request.method == "POST":
        if which == "shop" and shop_form.validate():
            return _save_shop(shop_form)
        if which == "new" and new_form.validate():
            if len(methods) >= SHIPPING_METHODS_MAX:
                new_form.code.errors.append(
                    f"The shop offers at most {SHIPPING_METHODS_MAX} shipping methods."
                )
            elif any(m.code == new_form.code.data for m in methods):
                new_form.code.errors.append("Another method has this code.")
            else:
                return _add_method(new_form)
        for method in methods:
            form = edit_forms[method.id]
            if which == f"method-{method.id}" and form.validate():
                if any(m.code == form.code.data and m.id != method.id for m in methods):
                    form.code.errors.append("Another method has this code.")
                else:
                    return _save_method(method.id, form)
        status = 422
    return render_template(
        "purchases/settings.html",
        shop=shop,
        tax_rate=format_rate(shop.tax_rate_bp),
        shop_form=shop_form,
        new_form=new_form,
        methods=methods,
        edit_forms=edit_forms,
    ), status


def _save_shop(form: ShopSettingsForm):
    begin_write()
    shop = shop_settings()
    before = {
        "tax_rate_bp": shop.tax_rate_bp,
        "bank_transfer_details": shop.bank_transfer_details,
    }
    shop.tax_rate_bp = form.tax_rate.data
    shop.bank_transfer_details = form.bank_transfer_details.data or ""
    after = {
        "tax_rate_bp": shop.tax_rate_bp,
        "bank_transfer_details": shop.bank_transfer_details,
    }
    audit.record("settings.update", 1, before, after)
    db.session.commit()
    flash(f"Saved: tax {format_rate(shop.tax_rate_bp)}.", "success")
    return redirect(url_for("purchases.settings"))


def _add_method(form: ShippingMethodForm):
    begin_write()
    method = ShippingMethod(
        code=form.code.data,
        name=form.name.data,
        price_cents=form.price.data,
        free_over_cents=form.free_over.data,
        position=form.position.data or 0,
        is_active=form.is_active.data,
    )
    db.session.add(method)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:  # the same code added a moment ago
        db.session.rollback()
        flash(
            f"A shipping method with the code {form.code.data} exists already.", "error"
        )
        return redirect(url_for("purchases.settings"))
    audit.record("shipping.create", method.id, {}, _values(method))
    db.session.commit()
    flash(f"Added the shipping method “{method.name}”.", "success")
    return redirect(url_for("purchases.settings"))


def _save_method(method_id: int, form: ShippingMethodForm):
    begin_write()
    method = db.session.get(ShippingMethod, method_id, with_for_update=True)
    before = _values(method)
    method.code = form.code.data
    method.name = form.name.data
    method.price_cents = form.price.data
    method.free_over_cents = form.free_over.data
    method.position = form.position.data or 0
    method.is_active = form.is_active.data
    try:
        audit.record("shipping.update", method.id, before, _values(method))
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        flash("Another shipping method has this code; nothing was saved.", "error")
        return redirect(url_for("purchases.settings"))
    flash(f"Saved the shipping method “{method.name}”.", "success")
    return redirect(url_for("purchases.settings"))


def _values(method: ShippingMethod) -> dict:
    return {
        "code": method.code,
        "name": method.name,
        "price_cents": method.price_cents,
        "free_over_cents": method.free_over_cents,
        "position": method.position,
        "is_active": method.is_active,
    }
